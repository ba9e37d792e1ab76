"""tf.data training streams: importance-resampled, generic (with cluster ids), domain.

All streams yield Keras batches ``(x, y, sample_weight)``::

    x = {"token_ids":    (batch, seq) int32,   # [bos] + tokens, padded with pad (0)
         "padding_mask": (batch, seq) bool,    # True on real inputs (bos included)
         "cluster_ids":  (batch,) int32}       # if requested (generic: always)
    y = (batch, seq) int32                     # next tokens, padded with pad
    sample_weight = (batch, seq) float32       # 1.0 where y is a real token

with ``seq = context_length``: a stored window of at most ``context_length + 1`` ids is
padded to ``context_length + 1``, ``x`` takes all ids but the last and ``y`` all but the
first.

**Importance resampling (SLM-is), exactly.** ``resampled_dataset`` draws each example by
first drawing a cluster ``c ~ target_histogram`` and then a window uniformly inside
cluster ``c``, with replacement — the paper's resampling, so every generic window ``x``
is drawn with probability ``p_target(c(x)) / n_c``, i.e. generic data reweighted by
``w(x) = p_target(c) / p_generic(c)``. Per-cluster ``shuffle`` buffers (the usual
``sample_from_datasets`` recipe) are *not* uniform with replacement (a buffer only sees
nearby windows and a cluster repeats only after a full pass), and ``rejection_resample``
drops data; instead the windows of the clusters with target mass are held in memory as
one flat token array, and indices are drawn by a seeded NumPy ``Generator`` (PCG64):
``Generator.choice(p=...)`` for the cluster and ``Generator.integers(0, n_c)``
(unbiased, Lemire's method) for the window. The draws depend only on the seed (not on
the batch size, the backend or the machine); a batch is then gathered with one
vectorized NumPy indexing and turned into tensors by graph ops. Throughput is far above
what a model consumes (see ``bench/input_pipeline.py``).

Modules: `rows` (which windows each batch takes), `resampling_stats` (effective
sample size, repetition), `batches` (windows to Keras batches), `datasets` (the
tf.data streams).

Clusters with zero target mass are never read nor sampled. Target mass on a cluster that
has no generic window raises a ValueError by default; ``on_missing="renormalize"`` drops
that mass with a warning instead.

Example:

>>> import numpy as np, os, tempfile
>>> from keras_pn.data.shards import write_shards
>>> d = os.path.join(tempfile.mkdtemp(), "shards")
>>> windows = [np.array([2, 10 + i, 3]) for i in range(8)]
>>> _ = write_shards(d, windows, cluster_ids=[0, 1] * 4, num_clusters=2,
...                  context_length=4, tokenizer_sha256="")
>>> ds = resampled_dataset(d, [0.0, 1.0], batch_size=4, context_length=4, seed=0)
>>> x, y, w = next(iter(ds))
>>> x["cluster_ids"].numpy().tolist(), x["token_ids"].shape
([1, 1, 1, 1], TensorShape([4, 4]))
"""

from keras_pn.data.streams.batches import gather_windows, windows_to_batch
from keras_pn.data.streams.datasets import (
    domain_dataset,
    generic_dataset,
    resampled_dataset,
)
from keras_pn.data.streams.resampling_stats import (
    ResamplingReport,
    effective_sample_size,
    resampling_report,
)
from keras_pn.data.streams.rows import generic_rows, resampled_rows

__all__ = [
    "ResamplingReport",
    "domain_dataset",
    "effective_sample_size",
    "gather_windows",
    "generic_dataset",
    "generic_rows",
    "resampled_dataset",
    "resampled_rows",
    "resampling_report",
    "windows_to_batch",
]
