r"""Window, embed, cluster and shard a generic corpus with Apache Beam.

    # local, 4 processes (k-means fitted first on a hashed sample of 1 window in 10):
    python -m recipes.beam_shards --inputs=data/generic \
        --tokenizer=runs/data/tokenizer/vocabulary.spm --context_length=256 \
        --num_clusters=32 --embedder=minilm --output_dir=runs/beam/shards-k32 \
        --centroids_dir=runs/beam/kmeans-k32 --direct_num_workers=4

    # Dataflow (keras_pn installed on the workers through --setup_file):
    python -m recipes.beam_shards --runner=DataflowRunner --inputs='gs://b/generic/*.jsonl' \
        --tokenizer=gs://b/vocabulary.spm --output_dir=gs://b/shards-k32 \
        --centroids_dir=gs://b/kmeans-k32 --num_clusters=32 --embedder=minilm \
        --beam_options='--project=P --region=us-central1 --temp_location=gs://b/tmp --setup_file=./setup.py'

Writes the per-cluster TFRecord shards of `keras_pn.data.shards` (read by
`generic_dataset` / `resampled_dataset`, on any number of hosts with
`num_hosts` / `host_index`).
"""

import shlex

from absl import flags
from absl import logging

from keras_pn.data.embedding import EMBEDDERS
from recipes import cli

flags.DEFINE_list("inputs", None, "JSONL files, globs or directories of *.jsonl (in document order).", required=True)
flags.DEFINE_string("output_dir", None, "Shard directory to write.", required=True)
flags.DEFINE_string("tokenizer", None, "The run's SentencePiece model (e.g. <data_dir>/tokenizer/vocabulary.spm).", required=True)
flags.DEFINE_integer("context_length", 256, "Tokens per window.")
flags.DEFINE_integer("num_clusters", 32, "k.")
flags.DEFINE_string("centroids_dir", None, "Saved KMeans; fitted on a sample and saved here if missing (default: <output_dir>.kmeans).")
flags.DEFINE_enum("embedder", "hashed", list(EMBEDDERS), "Window embedder (paper: minilm).")
flags.DEFINE_float("sample_fraction", 0.1, "Share of windows (by hash) in the k-means sample.")
flags.DEFINE_integer("max_points_per_centroid", 256, "Cap of the k-means sample: k times this.")
flags.DEFINE_integer("kmeans_iterations", 20, "Lloyd iterations.")
flags.DEFINE_integer("seed", 0, "Seed of the sample and k-means.")
flags.DEFINE_integer("docs_per_part", 100_000, "Documents of one input file per shard part.")
flags.DEFINE_string("runner", "DirectRunner", "Beam runner: DirectRunner, DataflowRunner, FlinkRunner, SparkRunner, ...")
flags.DEFINE_integer("direct_num_workers", 2, "DirectRunner: local workers.")
flags.DEFINE_enum("direct_running_mode", "multi_processing", ["in_memory", "multi_threading", "multi_processing"], "DirectRunner mode.")
flags.DEFINE_string("beam_options", "", "More Beam pipeline options, as one shell-quoted string.")
flags.DEFINE_bool("overwrite", False, "Replace an existing --output_dir.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    logging.set_verbosity(logging.INFO)
    from keras_pn.data.beam_pipeline import build_shards

    index = build_shards(
        FLAGS.inputs,
        FLAGS.output_dir,
        tokenizer=FLAGS.tokenizer,
        context_length=FLAGS.context_length,
        num_clusters=FLAGS.num_clusters,
        centroids_dir=FLAGS.centroids_dir or FLAGS.output_dir.rstrip("/") + ".kmeans",
        embedder=FLAGS.embedder,
        runner=FLAGS.runner,
        direct_num_workers=FLAGS.direct_num_workers,
        direct_running_mode=FLAGS.direct_running_mode,
        pipeline_args=shlex.split(FLAGS.beam_options),
        sample_fraction=FLAGS.sample_fraction,
        max_points_per_centroid=FLAGS.max_points_per_centroid,
        kmeans_iterations=FLAGS.kmeans_iterations,
        seed=FLAGS.seed,
        docs_per_part=FLAGS.docs_per_part,
        overwrite=FLAGS.overwrite,
    )
    sizes = index["windows_per_cluster"]
    print(f"{index['num_windows']:,} windows, {index['num_tokens']:,} tokens in "
          f"{len(sizes)} clusters (largest {max(sizes):,}, empty "
          f"{sum(s == 0 for s in sizes)}) -> {FLAGS.output_dir}")


if __name__ == "__main__":
    cli.run(main)
