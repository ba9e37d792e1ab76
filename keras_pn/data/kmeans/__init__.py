"""k-means clustering written with `keras.ops`, for every Keras backend.

The paper clusters Sentence-BERT embeddings of the generic set with flat k-means
(k = 1,024 for importance sampling, k = 32 / 16 for the projected network and the
mixture). This package is that k-means:

* k-means++ initialisation (greedy, like scikit-learn) run on a seeded
  subsample for large inputs (as faiss and NeMo Curator do),
* Lloyd iterations computed chunk by chunk so memory stays bounded, with the
  squared distance expanded as ``||x||² - 2 x·c + ||c||²`` (one GEMM per chunk),
* a mini-batch variant (Sculley's per-centre learning rate) for very large N,
* empty-cluster repair: an empty cluster is re-seeded with the point that is
  farthest from its centroid (that point leaves its old cluster),
* an optional spherical mode (unit-norm centroids, cosine assignment),
* nearest-centroid assignment of new vectors in chunks, inertia, save / load,
* a two-level (hierarchical) k-means exposing flat cluster ids.

All arithmetic on vectors runs through `keras.ops` (`kernels`), compiled once per
shape by `backend_tools` -- the only backend-specific module of the package
(``jax.jit``, ``tf.function(jit_compile=True)`` or eager torch under ``no_grad``).
Data stay in numpy (or a ``np.memmap``) on the host and are moved to the device
whole when they fit ``resident_bytes``, else chunk by chunk. Runs are deterministic
for a fixed seed on a fixed backend and device (random draws come from numpy, the
device code has no randomness).

Modules: `validation` (input checks), `source` (host data in fixed-shape chunks),
`flat_kmeans` (`KMeans`), `hierarchical_kmeans` (`HierarchicalKMeans`),
`persistence` (`load_kmeans` and the files ``save`` writes).

Example:

>>> import numpy as np
>>> from keras_pn.data.kmeans import KMeans
>>> x = np.random.default_rng(0).normal(size=(500, 8)).astype("float32")
>>> km = KMeans(4, n_iter=10, seed=0, verbose=False).fit(x)
>>> km.centroids_.shape, km.labels_.shape
((4, 8), (500,))
>>> bool((km.assign(x) == km.labels_).all())
True
"""

from keras_pn.data.kmeans.flat_kmeans import KMeans
from keras_pn.data.kmeans.hierarchical_kmeans import HierarchicalKMeans
from keras_pn.data.kmeans.persistence import load_kmeans
from keras_pn.data.kmeans.validation import check_vectors

__all__ = [
    "KMeans",
    "HierarchicalKMeans",
    "load_kmeans",
    "check_vectors",
]
