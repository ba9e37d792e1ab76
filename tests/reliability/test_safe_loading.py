"""Planted attacks on what keras_pn loads and fetches.

Presets load in Keras safe mode: a class that is not a registered keras /
keras-hub / keras_pn class, or a Lambda, is refused with a clear error; nothing
is unpickled; no file a preset points to may lie outside its directory. Every
archive the corpus builder fetches is checked against the sha256 pinned in the
source table; a mismatch aborts and leaves the cache as it was.
"""

import json
import os
import pickle
import re
import shutil

import keras
import numpy as np
import pytest

from keras_pn.data import corpora
from keras_pn.data.corpora import builder
from keras_pn.data.corpora import fetch
from keras_pn.data.corpora import sources
from keras_pn.models import GPTBackbone
from keras_pn.models import GPTCausalLM
from keras_pn.models import GPTCausalLMPreprocessor
from keras_pn.models import GPTTokenizer
from keras_pn.presets import PresetError
from keras_pn.testing import TINY_GPT
from keras_pn.training import Checkpointer
from tests.reliability import helpers


@pytest.fixture(scope="module")
def clean_preset(tmp_path_factory):
    """A preset with a SentencePiece tokenizer (files under assets/)."""
    from keras_pn.data.tokenizer_training import train_sentencepiece

    rng = np.random.default_rng(0)
    words = ["".join(rng.choice(list("abcdefghij"), 4)) for _ in range(300)]
    proto = train_sentencepiece([" ".join(rng.choice(words, 30)) for _ in range(200)], 280)
    preprocessor = GPTCausalLMPreprocessor(GPTTokenizer(proto=proto), sequence_length=8)
    model = GPTCausalLM(GPTBackbone(**dict(TINY_GPT, vocabulary_size=280)), preprocessor)
    path = tmp_path_factory.mktemp("clean") / "preset"
    model.save_to_preset(str(path))
    return path


@pytest.fixture
def preset(clean_preset, tmp_path):
    path = tmp_path / "preset"
    shutil.copytree(clean_preset, path)
    return path


def _edit_json(path, edit):
    config = json.loads(path.read_text())
    edit(config)
    path.write_text(json.dumps(config))


def test_the_clean_preset_loads(preset):
    model = GPTCausalLM.from_preset(str(preset))
    assert model.preprocessor.tokenizer.vocabulary_size() == 280


# ---- classes named by a config ----------------------------------------------------


def _serialized_lambda():
    return keras.saving.serialize_keras_object(keras.layers.Lambda(lambda x: x * 2))


ATTACKS = {
    # A real Lambda layer, with its Python bytecode, nested in the config.
    "lambda_layer": (
        lambda c: c["config"].update(extra_layer=_serialized_lambda()),
        r"contains a Lambda object, which would run arbitrary code",
    ),
    # A bare serialized lambda function (e.g. as an initializer).
    "lambda_function": (
        lambda c: c["config"].update(
            kernel_initializer={"class_name": "__lambda__", "config": {"code": "AA=="}}
        ),
        r"contains a __lambda__ object",
    ),
    "foreign_module": (
        lambda c: c.update(module="os", class_name="system", registered_name="os>system"),
        r"names class 'system' from module 'os', which is not a keras, keras_hub or "
        r"keras_pn module",
    ),
    "builtins_function": (
        lambda c: c["config"].update(
            activation={"module": "builtins", "class_name": "function", "config": "eval",
                        "registered_name": "function"}
        ),
        r"contains a function object",
    ),
    "unregistered_keras_pn_name": (
        lambda c: c.update(registered_name="keras_pn>Backdoor"),
        r"\(registered name 'keras_pn>Backdoor'\), which is not registered as a "
        r"keras_pn class",
    ),
    "unregistered_package_name": (
        lambda c: c.update(registered_name="evil_pkg>Backdoor", module="keras_hub.evil"),
        r"names class 'evil_pkg>Backdoor', which is not registered",
    ),
    # A module function of keras_pn, not a class registered with Keras.
    "keras_pn_module_function": (
        lambda c: c.update(module="keras_pn.data.corpora.tools", class_name="run",
                           registered_name=None),
        r"names 'keras_pn\.data\.corpora\.tools\.run' \(registered name None\), "
        r"which is not registered as a keras_pn class",
    ),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_configs_naming_unsafe_classes_are_refused(preset, attack):
    edit, message = ATTACKS[attack]
    _edit_json(preset / "config.json", edit)
    with pytest.raises(PresetError, match=message) as info:
        GPTCausalLM.from_preset(str(preset))
    print(f"\n[{attack}] PresetError: {info.value}")
    assert "refus" in str(info.value)


def test_the_same_attacks_in_task_and_tokenizer_configs(preset):
    edit, _ = ATTACKS["lambda_layer"]
    _edit_json(preset / "task.json", lambda c: edit(c["config"]["backbone"]))
    with pytest.raises(PresetError, match=r"task\.json' contains a Lambda"):
        GPTCausalLM.from_preset(str(preset))
    _edit_json(preset / "task.json", lambda c: c["config"]["backbone"]["config"].pop(
        "extra_layer"))
    edit, _ = ATTACKS["foreign_module"]
    _edit_json(preset / "tokenizer.json", edit)
    with pytest.raises(PresetError, match=r"tokenizer\.json' names class 'system'"):
        GPTTokenizer.from_preset(str(preset))


def test_a_keras_class_that_is_not_serializable_is_refused(preset):
    # keras-hub refuses a top-level class without a registered name; Keras itself
    # only deserializes KerasSaveable classes of its own packages.
    _edit_json(
        preset / "config.json",
        lambda c: c.update(module="keras.src.saving.serialization_lib",
                           class_name="SafeModeScope", registered_name=None),
    )
    with pytest.raises(ValueError, match="no class registered with Keras for None"):
        GPTBackbone.from_preset(str(preset))


def test_presets_load_in_safe_mode_even_if_unsafe_mode_is_enabled(preset, monkeypatch):
    from keras.src.saving import serialization_lib

    seen = []
    from_config = GPTBackbone.from_config.__func__

    def spy(cls, config):
        seen.append(serialization_lib.in_safe_mode())
        return from_config(cls, config)

    monkeypatch.setattr(GPTBackbone, "from_config", classmethod(spy))
    with serialization_lib.SafeModeScope(False):  # as enable_unsafe_deserialization()
        model = GPTCausalLM.from_preset(str(preset))
        assert serialization_lib.in_safe_mode() is False
    assert seen and all(mode is True for mode in seen), seen
    assert model.preprocessor.tokenizer.vocabulary_size() == 280


# ---- nothing is unpickled -----------------------------------------------------------


class _Exploit:
    """Unpickling this runs code: it would create `marker`."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_nothing_is_unpickled_while_loading(preset, tmp_path, monkeypatch):
    model = GPTCausalLM.from_preset(str(preset))
    model.compile(optimizer="adam", loss="mse")
    model.optimizer.build(model.trainable_variables)
    Checkpointer(tmp_path / "ckpt").save(model, {"step": 1})

    def refuse(*args, **kwargs):
        raise AssertionError("something was unpickled")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    again = GPTCausalLM.from_preset(str(preset))
    again.compile(optimizer="adam", loss="mse")
    assert Checkpointer(tmp_path / "ckpt").restore(again) == {"step": 1}


def test_a_pickled_optimizer_state_is_refused(preset, tmp_path):
    model = GPTCausalLM.from_preset(str(preset))
    model.compile(optimizer="adam", loss="mse")
    checkpointer = Checkpointer(tmp_path / "ckpt")
    path = checkpointer.save(model, {"step": 1})
    marker = tmp_path / "pwned"
    exploit = np.empty(1, dtype=object)
    exploit[0] = _Exploit(marker)
    np.savez(os.path.join(path, "optimizer.npz"), v00000=exploit)  # planted
    with pytest.raises(ValueError, match="holds pickled Python objects.*never loads"):
        checkpointer.restore(model)
    assert not marker.exists()


def test_a_checkpoint_pointer_cannot_leave_the_run(preset, tmp_path):
    model = GPTCausalLM.from_preset(str(preset))
    checkpointer = Checkpointer(tmp_path / "run" / "ckpt")
    checkpointer.save(model, {"step": 1})
    shutil.copytree(tmp_path / "run" / "ckpt" / "step-000000001", tmp_path / "elsewhere")
    (tmp_path / "run" / "ckpt" / "latest.json").write_text(
        json.dumps({"checkpoint": "../../elsewhere"})
    )
    with pytest.raises(ValueError, match="refusing to load files outside"):
        checkpointer.restore(model)


# ---- asset paths cannot escape the preset -------------------------------------------


def _secret(tmp_path):
    outside = tmp_path / "outside" / "tokenizer"
    outside.mkdir(parents=True)
    (outside / "vocabulary.spm").write_bytes(b"secret")
    return outside / "vocabulary.spm"


def test_a_symlinked_asset_is_refused(preset, tmp_path):
    secret = _secret(tmp_path)
    asset = preset / "assets" / "tokenizer" / "vocabulary.spm"
    asset.unlink()
    asset.symlink_to(secret)
    with pytest.raises(PresetError, match=r"vocabulary\.spm' points outside the preset"):
        GPTCausalLM.from_preset(str(preset))
    with pytest.raises(PresetError, match="points outside"):
        GPTTokenizer.from_preset(str(preset))


def test_a_symlinked_assets_directory_or_weights_file_is_refused(preset, tmp_path):
    _secret(tmp_path)
    shutil.rmtree(preset / "assets")
    (preset / "assets").symlink_to(tmp_path / "outside")
    with pytest.raises(PresetError, match=r"assets' points outside"):
        GPTCausalLM.from_preset(str(preset))
    os.remove(preset / "assets")
    shutil.move(preset / "model.weights.h5", tmp_path / "weights.h5")
    (preset / "model.weights.h5").symlink_to(tmp_path / "weights.h5")
    with pytest.raises(PresetError, match=r"model\.weights\.h5' points outside"):
        GPTBackbone.from_preset(str(preset))


@pytest.mark.parametrize(
    "config_file", ["/ABS/outside/tokenizer.json", "../../outside/tokenizer.json", ".."]
)
def test_a_config_file_path_cannot_escape(preset, tmp_path, config_file):
    _secret(tmp_path)
    config_file = config_file.replace("/ABS", str(tmp_path))
    for name in ("tokenizer.json", "preprocessor.json", "task.json"):
        _edit_json(preset / name, lambda c: _set_all(c, "config_file", config_file,
                                                    only="GPTTokenizer"))
    with pytest.raises(PresetError, match=re.escape(f"config_file={config_file!r}")):
        GPTCausalLM.from_preset(str(preset))
    with pytest.raises(PresetError, match="outside the preset directory"):
        GPTTokenizer.from_preset(str(preset))


def test_a_proto_path_in_a_config_is_refused(preset, tmp_path):
    secret = _secret(tmp_path)
    _edit_json(preset / "tokenizer.json", lambda c: c["config"].update(proto=str(secret)))
    with pytest.raises(PresetError, match=r"sets proto=.*outside the preset directory"):
        GPTTokenizer.from_preset(str(preset))


def _set_all(node, key, value, only):
    """Set `key` in the config of every `only` class inside `node`."""
    if isinstance(node, dict):
        if node.get("class_name") == only:
            node["config"][key] = value
        for child in node.values():
            _set_all(child, key, value, only)
    elif isinstance(node, list):
        for child in node:
            _set_all(child, key, value, only)


# ---- every fetched archive is checked against its pinned sha256 -----------------------


def test_every_source_row_pins_a_sha256():
    names = [row.name for row in sources.SOURCES]
    assert len(names) == len(set(names))
    for row in sources.SOURCES:
        assert re.fullmatch(r"[0-9a-f]{64}", row.sha256), row.name
        assert row.registry in fetch.FETCHERS, row.name


@pytest.fixture
def registry(monkeypatch):
    fake = helpers.FakeRegistry()
    for name in fetch.FETCHERS:  # every registry is served by the fake
        monkeypatch.setitem(fetch.FETCHERS, name, fake)
    return fake


@pytest.mark.parametrize("registry_name", sorted(fetch.FETCHERS))
def test_a_planted_archive_aborts_and_leaves_the_cache_as_it_was(
    tmp_path, registry, registry_name
):
    import dataclasses

    downloads = tmp_path / "downloads"
    good = helpers.source_row(registry, package="good")
    fetch.fetch(good, downloads)
    before = helpers.snapshot(tmp_path)
    pinned = helpers.source_row(registry, package="victim")
    # The registry now serves a trojaned archive under the pinned name and version.
    registry.add("victim", helpers.tgz({"package/fortunes/quotes": b"evil"}))
    row = dataclasses.replace(pinned, registry=registry_name)
    with pytest.raises(corpora.ChecksumMismatchError) as info:
        fetch.fetch(row, downloads)
    message = str(info.value)
    assert "sha256 mismatch for source 'victim'" in message
    assert pinned.sha256 in message and "was not added to the cache" in message
    assert "update the pinned sha256 in keras_pn/data/corpora/sources.py" in message
    assert helpers.snapshot(tmp_path) == before


def test_a_tampered_cached_archive_is_refused_and_left_alone(tmp_path, registry):
    row = helpers.source_row(registry)
    path = fetch.fetch(row, tmp_path)
    path.write_bytes(b"tampered after download")
    before = helpers.snapshot(tmp_path)
    with pytest.raises(corpora.ChecksumMismatchError, match="tiny-quotes"):
        fetch.fetch(row, tmp_path)
    assert helpers.snapshot(tmp_path) == before and registry.calls == 1


def test_the_builder_checks_every_archive_it_fetches(tmp_path, registry, monkeypatch):
    rows = [helpers.source_row(registry, package=f"quotes-{i}") for i in range(2)]
    checked = []
    sha256_of = fetch.sha256_of
    monkeypatch.setattr(fetch, "sha256_of", lambda p: checked.append(p) or sha256_of(p))
    builder.build_dataset("tiny", rows, tmp_path)
    assert len(checked) == 2 and registry.calls == 2
    # A planted archive for the second row: the whole build aborts, nothing cached.
    registry.add("quotes-1", helpers.tgz({"package/fortunes/quotes": b"evil"}))
    before = helpers.snapshot(tmp_path)
    shutil.rmtree(tmp_path / "downloads" / "npm" / "quotes-1=1.0.0")
    with pytest.raises(corpora.ChecksumMismatchError, match="'quotes-1'"):
        builder.build_dataset("tiny", rows, tmp_path, force=True)
    after = helpers.snapshot(tmp_path)
    assert {k: v for k, v in before.items() if "quotes-1=" not in k} == after
    assert corpora.is_complete(tmp_path / "domains" / "tiny")
