"""A projected network's experts start with a plain layer's kernel scale (orthogonal E and M)."""

import keras
import numpy as np
import pytest

from keras_pn.layers import ExpertEmbedding
from keras_pn.layers import ProjectedDense
from keras_pn.testing import to_numpy


@pytest.mark.parametrize("k, m, h", [(8, 8, 8), (32, 16, 16)])
def test_expert_kernels_start_at_the_plain_scale(k, m, h):
    keras.utils.set_random_seed(0)
    codes = ExpertEmbedding(num_experts=k, expert_dim=m)
    layer = ProjectedDense(units=96, num_bases=h, expert_dim=m)
    codes.build()
    layer.build((None, 64))
    E = to_numpy(codes.embeddings)  # (k, m)
    alpha = E @ to_numpy(layer.mixing)  # (k, h)
    norms = np.linalg.norm(alpha, axis=1)
    if k <= m:
        np.testing.assert_allclose(norms, 1.0, atol=1e-5)  # orthonormal: exactly unit
        np.testing.assert_allclose(alpha @ alpha.T, np.eye(k), atol=1e-5)
    else:
        assert abs(float(np.mean(norms**2)) - 1.0) < 0.05  # unit on average
    T = to_numpy(layer.kernel_bases)  # (64, 96, h)
    stds = np.array([np.einsum("abr,r->ab", T, a).std() for a in alpha])
    # Every expert's kernel has the scale of one basis, RandomNormal(0.02): a plain layer's.
    # (Random normal codes spread it over 0.45x-1.55x in std at k = 8.)
    assert np.all(np.abs(stds / 0.02 - 1) < (0.05 if k <= m else 0.6)), stds / 0.02
    if k <= m:
        # ...and, with orthonormal codes, experts start as independent plain layers.
        w0 = np.einsum("abr,r->ab", T, alpha[0]).ravel()
        w1 = np.einsum("abr,r->ab", T, alpha[1]).ravel()
        assert abs(np.corrcoef(w0, w1)[0, 1]) < 0.05
