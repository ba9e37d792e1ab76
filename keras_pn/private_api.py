"""The private Keras and keras-hub names keras_pn uses, each wrapped here once.

Keras and keras-hub have no public equivalent of these names. Importing this
module resolves them (the test case on first use); if a Keras or keras-hub upgrade
moves one, that fails with an `ImportError` naming the symbol and the installed
versions, and this file is the only one to fix (tests/models/test_private_api.py
checks every name).

- `SafeModeScope`: Keras' context manager for safe-mode deserialization (the public
  API only has the global `keras.config.enable_unsafe_deserialization()`).
- `get_preset_loader`, `register_presets`: keras-hub's preset loader and its
  built-in preset registry.
- `hub_test_case()`: keras-hub's test harness class (`run_layer_test`,
  `run_backbone_test`, `run_task_test`, `run_preset_test`).
"""

import contextlib
import importlib
import sys
import types

import keras
import keras_hub

# name -> (module, attribute): every private name keras_pn reads.
PRIVATE_NAMES = {
    "SafeModeScope": ("keras.src.saving.serialization_lib", "SafeModeScope"),
    "get_preset_loader": ("keras_hub.src.utils.preset_utils", "get_preset_loader"),
    "register_presets": ("keras_hub.src.utils.preset_utils", "register_presets"),
    "TestCase": ("keras_hub.src.tests.test_case", "TestCase"),
}
# Optional packages a module above imports at its top without needing them for
# what keras_pn uses: keras-hub's test module imports `grain` (keras-hub's
# `grain` extra) for its Grain preprocessing checks only.
_OPTIONAL_IMPORTS = {"keras_hub.src.tests.test_case": ("grain",)}


def resolve(name):
    """The object behind `PRIVATE_NAMES[name]`; a clear `ImportError` if it moved."""
    module, attribute = PRIVATE_NAMES[name]
    try:
        with _placeholders(_OPTIONAL_IMPORTS.get(module, ())):
            return getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as error:
        raise ImportError(
            f"keras_pn uses `{module}.{attribute}`, a private name with no public "
            f"equivalent, and Keras {keras.version()} / keras-hub "
            f"{keras_hub.__version__} do not have it ({type(error).__name__}: "
            f"{error}). Fix: install the versions pinned in pyproject.toml, or "
            "update keras_pn/private_api.py for this version."
        ) from error


class _MissingModule(types.ModuleType):
    """Stands in for a missing optional package; using it raises how to install it."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        raise ImportError(
            f"`{self.__name__}.{name}` was used, but {self.__name__} is not "
            f"installed. Fix: `pip install {self.__name__}`."
        )


@contextlib.contextmanager
def _placeholders(packages):
    """While importing, a `_MissingModule` stands in for each missing package."""
    added = []
    for package in packages:
        try:
            importlib.import_module(package)
        except ImportError:
            sys.modules[package] = _MissingModule(package)
            added.append(package)
    try:
        yield
    finally:
        for package in added:
            sys.modules.pop(package, None)


SafeModeScope = resolve("SafeModeScope")
get_preset_loader = resolve("get_preset_loader")
register_presets = resolve("register_presets")


def hub_test_case():
    """keras-hub's `TestCase` class (its import loads TensorFlow and absl).

    Without grain installed, a placeholder stands in for it during the import;
    only keras-hub's Grain checks use it, and they raise saying how to install it.
    """
    return resolve("TestCase")
