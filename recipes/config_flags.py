"""absl flags generated from a config dataclass: each knob is declared once, on the dataclass.

A field's help text is its `metadata["help"]`; `metadata["choices"]` makes an enum
flag and `metadata["flag"]` renames the flag. `int | None`, `float | None` and
`str | None` fields default to None on the command line too; tuple fields are
comma-separated lists.

>>> import dataclasses
>>> from absl import flags
>>> @dataclasses.dataclass(frozen=True)
... class Knobs:
...     steps: int = dataclasses.field(default=10, metadata={"help": "Steps."})
...     sizes: tuple[int, ...] = dataclasses.field(default=(1, 2), metadata={"help": "Sizes."})
>>> values = flags.FlagValues()
>>> define_flags(Knobs, flag_values=values)
>>> _ = values(["prog", "--steps=3", "--sizes=4,5"])
>>> from_flags(Knobs, flag_values=values)
Knobs(steps=3, sizes=(4, 5))
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from typing import Any, Iterable

from absl import flags


def _base_type(annotation: Any) -> tuple[Any, bool]:
    """(the type without `| None`, whether None is allowed)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def flag_name(field: dataclasses.Field) -> str:
    """The command-line name of a config field."""
    return field.metadata.get("flag", field.name)


def _fields(cls: type, exclude: Iterable[str]) -> list[tuple[dataclasses.Field, Any]]:
    hints = typing.get_type_hints(cls)
    exclude = set(exclude)
    return [
        (f, hints[f.name])
        for f in dataclasses.fields(cls)
        if f.init and f.name not in exclude and "help" in f.metadata
    ]


def define_flags(
    cls: type,
    *,
    exclude: Iterable[str] = (),
    defaults: dict[str, Any] | None = None,
    flag_values: flags.FlagValues = flags.FLAGS,
) -> None:
    """Defines one absl flag per documented field of the dataclass ``cls``.

    Args:
        cls: a dataclass whose fields carry `metadata={"help": ...}` (fields without
            help are not flags).
        exclude: field names to leave out.
        defaults: flag defaults that differ from the dataclass defaults (by field name).
        flag_values: the absl `FlagValues` to define them in.
    """
    defaults = defaults or {}
    # The flags belong to the caller's module (as if it had defined them itself), so
    # that `--help` lists them under the recipe, not under this module.
    caller = sys._getframe(1).f_globals.get("__name__", "")
    module_name = sys.argv[0] if caller == "__main__" else caller
    for field, annotation in _fields(cls, exclude):
        name, help_text = flag_name(field), field.metadata["help"]
        default = defaults.get(field.name, field.default)
        base, _ = _base_type(annotation)
        kwargs = {"flag_values": flag_values, "module_name": module_name}
        if "choices" in field.metadata:
            flags.DEFINE_enum(name, default, list(field.metadata["choices"]), help_text, **kwargs)
        elif typing.get_origin(base) in (tuple, list):
            value = None if default is None else [str(v) for v in default]
            flags.DEFINE_list(name, value, help_text, **kwargs)
        elif base is bool:
            flags.DEFINE_boolean(name, default, help_text, **kwargs)
        elif base is int:
            flags.DEFINE_integer(name, default, help_text, **kwargs)
        elif base is float:
            flags.DEFINE_float(name, default, help_text, **kwargs)
        elif base is str:
            flags.DEFINE_string(name, default, help_text, **kwargs)
        else:
            raise TypeError(f"{cls.__name__}.{field.name}: no flag type for {annotation!r}.")


def from_flags(
    cls: type,
    *,
    exclude: Iterable[str] = (),
    flag_values: flags.FlagValues = flags.FLAGS,
    **values: Any,
) -> Any:
    """An instance of ``cls`` from the parsed flags (``values`` override them)."""
    for field, annotation in _fields(cls, exclude):
        if field.name in values:
            continue
        value = flag_values[flag_name(field)].value
        base, _ = _base_type(annotation)
        if value is not None and typing.get_origin(base) in (tuple, list):
            item = (typing.get_args(base) or (str,))[0]
            value = tuple(item(v) for v in value)
        values[field.name] = value
    return cls(**values)
