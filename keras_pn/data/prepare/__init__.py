"""Turn raw corpora into everything the training recipes consume, stage by cached stage.

`prepare_data` runs, for one *workdir*, the stages of `STAGES`. Each stage is split
into *units* (one per domain, per k, ...; see `units`); each unit's manifest holds
the fingerprint of its inputs (the parameters it uses, the size and mtime of the
corpus files it reads, and the fingerprints of the units it consumes). A unit whose
fingerprint is unchanged and whose outputs exist is skipped, so a second call is a
no-op and changing a parameter reruns only the units that depend on it. Outputs are
written under temporary names and renamed into place; a crash leaves the unit marked
"running", and the next call resumes there (embeddings resume row-block by
row-block, see `keras_pn.data.embedding.embed_texts`).

Stages, in execution order (the subsets are cut before the embeddings because the
histograms are computed on them):

1. ``tokenizer`` and 2. ``windows`` (`tokenizing`, `heldout`): SentencePiece on the
   generic mix, then the domains' and the generic windows at ``context_length``, and
   the held-out generic validation split (whole documents, ``generic_valid_windows``)
   that no k-means fit and no training stream reads.
3. ``subsets`` (`subsets`): nested specialization subsets of each domain.
4. ``embeddings``, 5. ``clusters`` and 6. ``shards`` (`clustering`): embeddings of
   the generic windows, k-means per k, the generic training windows sharded by
   cluster; then
   the domain train windows' embeddings and nearest-centroid assignments.
7. ``stats`` (`subsets`, `stats`): per k and domain, the cluster histograms of the
   full train split and of each subset, cluster statistics and a combined table like
   the paper's Tables 9-10.

The knobs are one `PrepareConfig`; every path of the workdir is a `WorkdirLayout`
method.

>>> from keras_pn.data.prepare import PrepareConfig, prepare_data, load_prepared
>>> config = PrepareConfig(vocabulary_size=8192, context_length=256,
...                        cluster_counts=(32, 1024),
...                        specialization_tokens=(25_000, 200_000))
>>> data = prepare_data(  # doctest: +SKIP
...     "runs/data", config, generic_dir="~/.cache/keras_pn/generic",
...     domain_dirs=["~/.cache/keras_pn/domains/religion"])
>>> data = load_prepared("runs/data")  # doctest: +SKIP
>>> ds = data.resampled_stream("religion", 25_000, 1024, 16)  # doctest: +SKIP
"""

from keras_pn.data.embedding import EMBEDDERS
from keras_pn.data.prepare.config import PrepareConfig
from keras_pn.data.prepare.corpus_dirs import resolve_corpus_dirs
from keras_pn.data.prepare.errors import PreparationError
from keras_pn.data.prepare.layout import SPLITS, WorkdirLayout
from keras_pn.data.prepare.preparation import prepare_data
from keras_pn.data.prepare.reader import PreparedData, load_prepared
from keras_pn.data.prepare.summary import format_summary
from keras_pn.data.prepare.units import STAGES

__all__ = [
    "EMBEDDERS",
    "SPLITS",
    "STAGES",
    "PrepareConfig",
    "PreparationError",
    "PreparedData",
    "WorkdirLayout",
    "format_summary",
    "load_prepared",
    "prepare_data",
    "resolve_corpus_dirs",
]
