"""`resolve_corpus_dirs`: a run's generic and domain directories (cache or paths)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from keras_pn.data.prepare.errors import PreparationError


def resolve_corpus_dirs(
    cache_dir: str | os.PathLike | None = None,
    generic_dir: str | os.PathLike | None = None,
    domain_dirs: Sequence[str | os.PathLike] = (),
    domains: Sequence[str] = (),
) -> tuple[Path, dict[str, Path]]:
    """The generic and domain directories of a run, from the corpus cache or paths.

    Args:
        cache_dir: corpus cache (default ``$KERAS_PN_CACHE`` or ``~/.cache/keras_pn``).
        generic_dir: the generic mix (default ``<cache>/generic``).
        domain_dirs: domain directories (named by basename); exclusive with
            ``domains``.
        domains: names of built domains in ``<cache>/domains``; with neither, every
            complete domain of the cache.

    Example:

    >>> generic, domains = resolve_corpus_dirs(domains=["religion"])  # doctest: +SKIP
    """
    from keras_pn.data.corpora.cache import is_complete, resolve_cache_dir

    cache = resolve_cache_dir(cache_dir)
    generic = Path(generic_dir).expanduser() if generic_dir else cache / "generic"
    if domain_dirs and domains:
        raise PreparationError(
            "Pass domain directories (--domain_dirs) or cached domain names "
            "(--domains), "
            "not both."
        )
    if domain_dirs:
        named: dict[str, Path] = {}
        for d in domain_dirs:
            p = Path(d).expanduser().absolute()
            named[p.name] = p
        return generic, named
    root = cache / "domains"
    available = sorted(p.name for p in root.glob("*") if p.is_dir() and is_complete(p))
    if not domains:
        if not available:
            raise PreparationError(
                f"No built domain in {root}. Fix: `python -m recipes.build_corpus` (or "
                "pass --domain_dirs)."
            )
        return generic, {d: root / d for d in available}
    unknown = [d for d in domains if d not in available]
    if unknown:
        raise PreparationError(
            f"Domains {unknown} are not built in {root} (built: {available}). Fix: "
            f"`python -m recipes.build_corpus --only={','.join(unknown)}`."
        )
    return generic, {d: root / d for d in domains}
