"""`OrthogonalCodes`: the initializer of a projected network's expert codes and mixing."""

import keras
from keras import ops

from keras_pn.api_export import keras_pn_export


@keras_pn_export("keras_pn.layers.OrthogonalCodes")
class OrthogonalCodes(keras.initializers.Initializer):
    """Orthogonal rows (or columns) scaled to unit norm on average, drawn in float32.

    For `E` (`k x m`) and `M` (`m x h`), orthonormal codes times an orthogonal
    mixing give orthonormal coefficients `alpha = E[i] M`: every expert's
    projected kernel then starts with the scale of one kernel basis, a plain
    layer's, and distinct experts start as independent layers. The gain
    `max(1, sqrt(rows / cols))` keeps rows at unit norm on average when there are
    more rows than columns. Drawn in float32 (QR has no bfloat16 kernel) and cast.

    >>> codes = OrthogonalCodes(seed=0)((4, 4), "float32")
    >>> bool(ops.all(ops.abs(ops.matmul(codes, ops.transpose(codes)) - ops.eye(4)) < 1e-5))
    True
    """

    def __init__(self, seed=None):
        self.seed = seed

    def __call__(self, shape, dtype=None):
        rows, cols = shape
        gain = max(1.0, (rows / cols) ** 0.5)
        values = keras.initializers.Orthogonal(gain=gain, seed=self.seed)(shape, "float32")
        return ops.cast(values, dtype or "float32")

    def get_config(self):
        return {"seed": self.seed}
