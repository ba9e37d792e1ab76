"""Builds the default corpora into the cache: the generic mix and the 12 domains.

    python -m recipes.build_corpus                      # everything (~300 MB download)
    python -m recipes.build_corpus --only=drama,news    # a subset
    python -m recipes.build_corpus --cache_dir=/data/kpn --force

The cache is `--cache_dir`, else `$KERAS_PN_CACHE`, else `~/.cache/keras_pn`.
"""

from absl import flags, logging

from keras_pn.data import corpora
from recipes import cli

_CACHE_DIR = flags.DEFINE_string(
    "cache_dir", None, "Cache root (default: $KERAS_PN_CACHE or ~/.cache/keras_pn)."
)
_ONLY = flags.DEFINE_list(
    "only", [], f"Datasets to build (default all): {', '.join(corpora.DATASETS)}."
)
_FORCE = flags.DEFINE_bool(
    "force", False, "Rebuild datasets even if they are complete."
)


def main(argv):
    del argv
    logging.set_verbosity(logging.INFO)
    cache_dir = corpora.resolve_cache_dir(_CACHE_DIR.value)
    logging.info("corpus cache: %s", cache_dir)
    results = corpora.build(_ONLY.value or None, cache_dir, force=_FORCE.value)
    print(corpora.format_summary(results))


if __name__ == "__main__":
    cli.run(main)
