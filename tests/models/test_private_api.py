"""keras_pn/private_api.py: every private Keras / keras-hub name still resolves."""

import sys

import keras
import keras_hub
import pytest

from keras_pn import private_api


@pytest.mark.parametrize("name", sorted(private_api.PRIVATE_NAMES))
def test_private_name_resolves(name):
    # On failure `resolve` raises an ImportError naming the symbol and the versions.
    resolved = private_api.resolve(name)
    assert resolved is not None


def test_wrapped_names_are_the_resolved_ones():
    for name in ("SafeModeScope", "get_preset_loader", "register_presets"):
        assert getattr(private_api, name) is private_api.resolve(name)
    assert private_api.hub_test_case() is private_api.resolve("TestCase")


def test_a_moved_name_fails_naming_the_versions(monkeypatch):
    gone = ("keras.src.saving.serialization_lib", "Gone")
    monkeypatch.setitem(private_api.PRIVATE_NAMES, "Gone", gone)
    with pytest.raises(ImportError) as error:
        private_api.resolve("Gone")
    message = str(error.value)
    assert "keras.src.saving.serialization_lib.Gone" in message
    assert f"Keras {keras.version()}" in message
    assert f"keras-hub {keras_hub.__version__}" in message


def test_safe_mode_scope_refuses_lambdas_inside_only():
    config = keras.saving.serialize_keras_object(keras.layers.Lambda(lambda x: x + 1))
    with private_api.SafeModeScope(True):
        with pytest.raises(ValueError, match="unsafe"):
            keras.saving.deserialize_keras_object(config)
    with private_api.SafeModeScope(False):
        restored = keras.saving.deserialize_keras_object(config)
    assert isinstance(restored, keras.layers.Lambda)


def test_the_grain_placeholder_does_not_outlive_the_import():
    private_api.hub_test_case()
    grain = sys.modules.get("grain")
    assert grain is None or not isinstance(grain, private_api._MissingModule)
