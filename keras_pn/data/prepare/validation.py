"""The checks of `prepare_data`'s inputs, all made before anything is written.

`validate` returns the `Inputs` of a call: the workdir's layout, the normalized
`PrepareConfig` and the corpus files.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from keras_pn.data.embedding import EMBEDDERS
from keras_pn.data.prepare.config import PrepareConfig
from keras_pn.data.prepare.errors import PreparationError
from keras_pn.data.prepare.layout import SPLITS, WorkdirLayout, as_layout

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


def split_file(directory: Path, split: str) -> Path:
    """The JSONL file of a split in a domain directory."""
    return Path(directory) / f"{split}.jsonl"


@dataclasses.dataclass(frozen=True)
class Inputs:
    """What one `prepare_data` call reads and where it writes, validated.

    Attributes:
        layout: the workdir's paths.
        config: the knobs, with sorted, deduplicated k's and caps.
        generic_dir: the generic mix directory.
        generic_files: its ``*.jsonl`` files, sorted.
        domain_dirs: ``{name: directory}``, in the order given.
    """

    layout: WorkdirLayout
    config: PrepareConfig
    generic_dir: Path
    generic_files: tuple[Path, ...]
    domain_dirs: dict[str, Path]

    def split_file(self, domain: str, split: str) -> Path:
        """A domain's ``<split>.jsonl``."""
        return split_file(self.domain_dirs[domain], split)


def first_document(path: Path, what: str) -> None:
    """Raises PreparationError unless ``path`` holds a valid non-empty document."""
    from keras_pn.data.corpora.errors import DomainFormatError
    from keras_pn.data.corpora.jsonl import iter_jsonl

    documents = iter_jsonl(path)
    try:
        next(documents)
    except DomainFormatError as e:
        raise PreparationError(f"{what}: {e}") from None
    except StopIteration:  # pragma: no cover - iter_jsonl raises on empty files
        raise PreparationError(f"{what}: {path} holds no document.") from None
    finally:
        documents.close()


def _named_domains(domain_dirs: Any) -> dict[str, Path]:
    if isinstance(domain_dirs, Mapping):
        return {str(k): Path(v).expanduser().absolute() for k, v in domain_dirs.items()}
    if isinstance(domain_dirs, (str, os.PathLike)):
        p = Path(domain_dirs).expanduser().absolute()
        return {p.name: p}
    named: dict[str, Path] = {}
    for d in domain_dirs or ():
        p = Path(d).expanduser().absolute()
        if p.name in named:
            raise PreparationError(
                f"Two domain directories are named {p.name!r} ({named[p.name]} and "
                f"{p}). Fix: pass domain_dirs as a dict {{name: directory}}."
            )
        named[p.name] = p
    return named


def _check_domains(named: dict[str, Path]) -> None:
    if not named:
        raise PreparationError(
            "No domain given. Fix: pass domain_dirs={name: directory} (directories "
            "with train.jsonl, valid.jsonl and test.jsonl)."
        )
    for name, directory in named.items():
        if not _NAME.match(name):
            raise PreparationError(
                f"Domain name {name!r} is not usable as a file name. Fix: use letters, "
                "digits, '_', '-', '.' or '+' (pass domain_dirs as a dict to rename)."
            )
        missing = [s for s in SPLITS if not split_file(directory, s).is_file()]
        if not directory.is_dir() or missing:
            raise PreparationError(
                f"Domain {name!r}: {directory} is not a domain directory (missing "
                f"{', '.join(f'{s}.jsonl' for s in missing) or 'the directory'}). Fix: "
                "a domain directory holds train.jsonl, valid.jsonl and test.jsonl, one "
                'JSON object per line with a "text" field.'
            )
        for split in SPLITS:
            first_document(
                split_file(directory, split),
                f"Domain {name!r} has an empty or unreadable {split} split",
            )


def _checked_config(config: PrepareConfig) -> PrepareConfig:
    """The config with int knobs and sorted, deduplicated k's and caps."""
    vocabulary_size, context_length = config.vocabulary_size, config.context_length
    if int(vocabulary_size) <= 262:
        raise PreparationError(
            f"vocabulary_size={vocabulary_size} is too small: the special, newline/tab "
            "and 256 byte pieces take 262. Fix: use e.g. 8192 (32000 at paper scale)."
        )
    if int(context_length) < 2:
        raise PreparationError(
            f"context_length={context_length} must be >= 2 (e.g. 256 or 1024)."
        )
    if config.embedder not in EMBEDDERS:
        raise PreparationError(
            f"embedder={config.embedder!r} is not one of {EMBEDDERS}. Fix: 'hashed' "
            "(fast, no weights), 'minilm' (Sentence-BERT, the paper's) or "
            "'minilm_bf16' (the same in bfloat16, about 2x faster on CPUs with "
            "bfloat16 units)."
        )
    ks = tuple(sorted({int(k) for k in config.cluster_counts}))
    if not ks or ks[0] < 1:
        raise PreparationError(
            f"cluster_counts={list(config.cluster_counts)} must hold at least one "
            "k >= 1, e.g. (32, 1024)."
        )
    caps = tuple(sorted({int(c) for c in config.specialization_tokens}))
    small = [c for c in caps if c < int(context_length)]
    if small:
        raise PreparationError(
            f"specialization_tokens {small} are smaller than one window of "
            f"context_length={context_length} tokens. Fix: use caps of at least "
            f"{context_length} tokens (e.g. 25000, 200000, 1600000)."
        )
    max_generic = config.max_generic_tokens
    if max_generic is not None and int(max_generic) < int(context_length):
        raise PreparationError(
            f"max_generic_tokens={max_generic} is smaller than one window "
            f"({context_length} tokens). Fix: raise it, or pass None for all the text."
        )
    max_train = config.max_domain_train_tokens
    if max_train is not None and caps and int(max_train) < max(caps):
        raise PreparationError(
            f"max_domain_train_tokens={max_train} is smaller than the largest "
            f"specialization cap ({max(caps)} tokens). Fix: raise it to at least "
            f"{max(caps)}, or pass None to keep each domain's whole train split."
        )
    if max_train is not None and int(max_train) < int(context_length):
        raise PreparationError(
            f"max_domain_train_tokens={max_train} is smaller than one window "
            f"({context_length} tokens). Fix: raise it, or pass None for all the text."
        )
    if int(config.generic_valid_windows) < 0:
        raise PreparationError(
            f"generic_valid_windows={config.generic_valid_windows} must be >= 0 (0 "
            "holds no generic window out; the default holds out 256)."
        )
    draws = config.resampling_draws
    return dataclasses.replace(
        config,
        vocabulary_size=int(vocabulary_size),
        context_length=int(context_length),
        cluster_counts=ks,
        specialization_tokens=caps,
        max_generic_tokens=None if max_generic is None else int(max_generic),
        max_domain_train_tokens=None if max_train is None else int(max_train),
        generic_valid_windows=int(config.generic_valid_windows),
        seed=int(config.seed),
        tokenizer_sentences=int(config.tokenizer_sentences),
        kmeans_iterations=int(config.kmeans_iterations),
        kmeans_points_per_centroid=int(config.kmeans_points_per_centroid),
        resampling_draws=None if draws is None else int(draws),
        progress=bool(config.progress),
    )


def validate(
    workdir: str | os.PathLike,
    config: PrepareConfig,
    generic_dir: Any,
    domain_dirs: Any,
) -> Inputs:
    """Checks every input before anything is written; returns the `Inputs`."""
    layout = as_layout(workdir)
    if layout.root.exists() and not layout.root.is_dir():
        raise PreparationError(
            f"workdir {layout.root} is a file. Fix: pass a directory."
        )
    if generic_dir is None:
        raise PreparationError(
            "generic_dir is required. Fix: pass the generic mix directory, e.g. "
            "~/.cache/keras_pn/generic (built by `python -m recipes.build_corpus`)."
        )
    generic_dir = Path(generic_dir).expanduser().absolute()
    generic_files = (
        tuple(sorted(generic_dir.glob("*.jsonl"))) if generic_dir.is_dir() else ()
    )
    if not generic_files:
        raise PreparationError(
            f"generic_dir {generic_dir} holds no .jsonl file. Fix: build the generic "
            "mix with `python -m recipes.build_corpus --only=generic`, or pass a "
            "directory of JSONL files (one JSON object with a 'text' field per line)."
        )
    named = _named_domains(domain_dirs)
    _check_domains(named)
    for i, path in enumerate(generic_files):  # Some shard must hold a document.
        try:
            first_document(path, "The generic mix is empty or unreadable")
            break
        except PreparationError:
            if i == len(generic_files) - 1:
                raise
    return Inputs(
        layout=layout,
        config=_checked_config(config),
        generic_dir=generic_dir,
        generic_files=generic_files,
        domain_dirs=named,
    )
