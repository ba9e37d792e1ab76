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
The knobs' flags and defaults are those of `keras_pn.data.prepare.PrepareConfig`.
"""

import logging as std_logging

from absl import flags, logging

from keras_pn.data import prepare
from recipes import cli
from recipes.config_flags import define_flags, from_flags

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
define_flags(prepare.PrepareConfig)


def main(argv):
    del argv
    logging.set_verbosity(logging.INFO)
    std_logging.getLogger("keras_pn").setLevel(std_logging.INFO)
    generic_dir, domain_dirs = prepare.resolve_corpus_dirs(
        _CACHE_DIR.value, _GENERIC_DIR.value, _DOMAIN_DIRS.value, _DOMAINS.value
    )
    logging.info("generic: %s; domains: %s", generic_dir, ", ".join(domain_dirs))
    prepared = prepare.prepare_data(
        _WORKDIR.value,
        from_flags(prepare.PrepareConfig),
        generic_dir=generic_dir,
        domain_dirs=domain_dirs,
    )
    print(prepare.format_summary(prepared))


if __name__ == "__main__":
    cli.run(main)
