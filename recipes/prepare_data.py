"""Prepares a run's data: tokenizer, windows, subsets, embeddings, clusters, stats.

    python -m recipes.prepare_data --workdir=/tmp/kp_prepare \\
        --domains=religion,licenses,drama,medicine --vocabulary_size=8192 \\
        --context_length=256 --embedder=hashed --cluster_counts=32,1024 \\
        --specialization_tokens=25000,200000,1600000 --max_generic_tokens=5000000
    python -m recipes.prepare_data --workdir=runs/mine --domain_dirs=data/law,data/med

Corpora come from the cache of `python -m recipes.build_corpus` (`--cache_dir`, else
$KERAS_PN_CACHE, else ~/.cache/keras_pn): `--domains` picks built domains (default:
all of them); `--domain_dirs` takes any directories of train/valid/test.jsonl instead
(the domain is named after the directory). Every stage is cached in the workdir: a
rerun with the same flags does nothing, a changed flag reruns only what depends on it.
"""

import logging as std_logging

from absl import app, flags, logging

from keras_pn.data import pipeline

_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory.", required=True)
_CACHE_DIR = flags.DEFINE_string("cache_dir", None, "Corpus cache root.")
_GENERIC_DIR = flags.DEFINE_string(
    "generic_dir", None, "Generic mix directory (default: <cache>/generic)."
)
_DOMAIN_DIRS = flags.DEFINE_list(
    "domain_dirs",
    [],
    "Domain directories (train/valid/test.jsonl); replaces --domains.",
)
_DOMAINS = flags.DEFINE_list(
    "domains", [], "Built domains of the cache (default: all built ones)."
)
_VOCABULARY_SIZE = flags.DEFINE_integer("vocabulary_size", 8192, "SentencePiece size.")
_CONTEXT_LENGTH = flags.DEFINE_integer("context_length", 256, "Tokens per window.")
_EMBEDDER = flags.DEFINE_enum(
    "embedder", "hashed", list(pipeline.EMBEDDERS), "Window embedder for clustering."
)
_CLUSTER_COUNTS = flags.DEFINE_list("cluster_counts", ["8", "32", "1024"], "k-means k's (8: the tiny PN and mixture; 32: the paper's; 1024: importance sampling).")
_SPECIALIZATION_TOKENS = flags.DEFINE_list(
    "specialization_tokens",
    ["25000", "200000", "1600000"],
    "Token caps of the specialization subsets.",
)
_MAX_GENERIC_TOKENS = flags.DEFINE_integer(
    "max_generic_tokens", None, "Cap on generic tokens (a seeded document sample)."
)
_SEED = flags.DEFINE_integer("seed", 0, "Seed of permutations, tokenizer and k-means.")
_TOKENIZER_SENTENCES = flags.DEFINE_integer(
    "tokenizer_sentences", 25_000, "Training chunks (<= 2 KB) given to SentencePiece."
)
_KMEANS_ITERATIONS = flags.DEFINE_integer("kmeans_iterations", 20, "Lloyd iterations.")
_PROGRESS = flags.DEFINE_bool("progress", True, "Show progress bars.")


def main(argv):
    del argv
    logging.set_verbosity(logging.INFO)
    std_logging.getLogger("keras_pn").setLevel(std_logging.INFO)
    try:
        generic_dir, domain_dirs = pipeline.resolve_corpus_dirs(
            _CACHE_DIR.value, _GENERIC_DIR.value, _DOMAIN_DIRS.value, _DOMAINS.value
        )
        logging.info("generic: %s; domains: %s", generic_dir, ", ".join(domain_dirs))
        prepared = pipeline.prepare_data(
            _WORKDIR.value,
            generic_dir=generic_dir,
            domain_dirs=domain_dirs,
            vocabulary_size=_VOCABULARY_SIZE.value,
            context_length=_CONTEXT_LENGTH.value,
            embedder=_EMBEDDER.value,
            cluster_counts=[int(k) for k in _CLUSTER_COUNTS.value],
            specialization_tokens=[int(c) for c in _SPECIALIZATION_TOKENS.value],
            max_generic_tokens=_MAX_GENERIC_TOKENS.value,
            seed=_SEED.value,
            progress=_PROGRESS.value,
            tokenizer_sentences=_TOKENIZER_SENTENCES.value,
            kmeans_iterations=_KMEANS_ITERATIONS.value,
        )
    except pipeline.PreparationError as error:
        raise SystemExit(f"error: {error}") from error
    print(pipeline.format_summary(prepared))


if __name__ == "__main__":
    app.run(main)
