"""The method registry: every declared `Method`, in run order.

Every module of `keras_pn/methods/` (but the machinery: `base`, `common`,
`registry`, `run_config`) is imported on first use and registers its method. Run
order is `Method.run_rank` (a teacher before its student); report order is
`Method.report_rank`.

>>> from keras_pn import methods
>>> methods.get("pn").display_name
'SLM-pn'
>>> methods.get("gpt9")
Traceback (most recent call last):
...
ValueError: Unknown method 'gpt9'. Known: ...
"""

from __future__ import annotations

from typing import Iterable

from keras_pn.methods.base import Method

_REGISTRY: dict[str, Method] = {}
# Modules of the package that declare no method.
_MACHINERY = ("base", "common", "registry", "run_config")


def register(method: Method) -> Method:
    """Adds a method to the registry; returns it (use at a method module's top level)."""
    if method.id in _REGISTRY and _REGISTRY[method.id] != method:
        raise ValueError(f"Method id {method.id!r} is registered twice.")
    _REGISTRY[method.id] = method
    return method


def _load() -> None:
    import importlib
    import pkgutil

    import keras_pn.methods as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name not in _MACHINERY and not info.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{info.name}")


def all_methods() -> tuple[Method, ...]:
    """Every registered method, in run order (`Method.run_rank`)."""
    _load()
    ordered = tuple(sorted(_REGISTRY.values(), key=lambda m: (m.run_rank, m.id)))
    position = {m.id: i for i, m in enumerate(ordered)}
    for m in ordered:
        if m.needs_teacher and position.get(m.needs_teacher, len(ordered)) > position[m.id]:
            raise ValueError(
                f"Method {m.id!r} takes its teacher from {m.needs_teacher!r}, which must "
                "be registered with a smaller run_rank."
            )
    return ordered


def ids() -> tuple[str, ...]:
    """The ids of every registered method, in run order."""
    return tuple(m.id for m in all_methods())


def get(method_id: str) -> Method:
    """The method of an id; a clear error naming the known ids otherwise."""
    _load()
    if method_id not in _REGISTRY:
        raise ValueError(f"Unknown method {method_id!r}. Known: {list(ids())}.")
    return _REGISTRY[method_id]


def report_order(method_ids: Iterable[str]) -> list[str]:
    """Known ids in report order (`report_rank`), then unknown ones sorted."""
    _load()
    method_ids = set(method_ids)
    known = sorted(
        (i for i in method_ids if i in _REGISTRY), key=lambda i: _REGISTRY[i].report_rank
    )
    return known + sorted(method_ids - set(known))


def display_name(method_id: str) -> str:
    """The paper's name of a method (an unknown id keeps its own name)."""
    _load()
    return _REGISTRY[method_id].display_name if method_id in _REGISTRY else method_id


def generic_pretrainings() -> tuple[str, ...]:
    """Ids of the shared generic pretraining runs (SLM, LLM, PN, mixture), run order."""
    return tuple(m.id for m in all_methods() if m.is_generic_pretraining)
