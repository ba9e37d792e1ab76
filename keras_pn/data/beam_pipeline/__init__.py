"""The data pipeline at corpus scale, on Apache Beam.

One Beam pipeline does what ``keras_pn.data.prepare`` does in one process for
the generic corpus: windowing (the run's SentencePiece, the same graph function
as ``keras_pn.data.windows``), embedding (a DoFn around the same embedder,
loaded once per worker in ``setup()``), nearest-centroid assignment (the same
``keras_pn.data.kmeans.KMeans.assign``), and the per-cluster TFRecord shards in
exactly the format of ``keras_pn.data.shards`` (same features, file names and
``index.json``), so ``read_shards``, ``generic_dataset`` and
``resampled_dataset`` read them unchanged.

k-means is fitted beforehand on a sample of the windows, as faiss and NeMo
Curator do: ``fit_centroids_on_sample`` runs a first Beam pipeline that keeps
each window with a probability ``sample_fraction``, decided by a hash of its
position (so the sample does not depend on the runner or on the number of
workers), caps it at ``k * max_points_per_centroid`` windows (the smallest
hashes) and fits ``KMeans`` on it in the driver.

Windows are stored in document order inside each cluster (input files in the
order given, records in file order, windows in document order), as the
in-process pipeline stores them: the two produce the same shards window by
window. A cluster is written in parts of at most ``docs_per_part`` documents of
one input file (``cluster-00042.tfrecord``, ``cluster-00042-part-00001.tfrecord``,
...), one Beam group each, so no worker holds a whole cluster. Workers write
their parts under temporary names; the driver renames them and writes
``index.json`` last. On a local file system the directory is renamed into place
when complete; on remote file systems (``gs://``), ``index.json`` marks it
complete.

Modules: `files` (inputs and paths through ``tf.io.gfile``), `transforms` (the
DoFns; the only one importing Beam at the top), `options`, `sample_fit`
(``fit_centroids_on_sample``) and `shard_build` (``build_shards``).

Runners: ``DirectRunner`` (``direct_num_workers``, ``direct_running_mode=
"multi_processing"`` for several local processes), or ``DataflowRunner``,
``FlinkRunner``, ``SparkRunner`` with their usual options
(``pipeline_args``). Remote workers need ``keras_pn`` installed (e.g. Dataflow
``--setup_file`` or a custom container) and paths they can read and write.

Example:

```python
from keras_pn.data import beam_pipeline

index = beam_pipeline.build_shards(
    ["generic/shard-00000.jsonl", "generic/shard-00001.jsonl"],
    "runs/beam/shards-k32",
    tokenizer="runs/data/tokenizer/vocabulary.spm",
    context_length=256,
    num_clusters=32,
    centroids_dir="runs/beam/kmeans-k32",   # fitted on a sample if missing
    embedder="minilm",
    runner="DirectRunner",
    direct_num_workers=4,
)
```
"""

from keras_pn.data.beam_pipeline.options import pipeline_options
from keras_pn.data.beam_pipeline.sample_fit import fit_centroids_on_sample
from keras_pn.data.beam_pipeline.shard_build import build_shards

__all__ = ["build_shards", "fit_centroids_on_sample", "pipeline_options"]
