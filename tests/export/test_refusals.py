"""What an export refuses, with the fix: formats, models, destinations; nothing is lost."""

import os

import pytest

import keras_pn.export as export_module
from keras_pn.export import ExportError
from keras_pn.export import export


def test_gguf_is_refused_with_the_reason_and_the_formats(tmp_path):
    with pytest.raises(ExportError) as error:
        export("does-not-matter", "gguf", str(tmp_path / "out"))
    message = str(error.value)
    assert "llama-cpp-python" in message and "hf, onnx, litert" in message
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "fmt, quantize, match",
    [("safetensors", None, "Unknown export format"), ("hf", "int8", "float32 weights only"),
     ("onnx", "int4", "Unsupported quantization")],
)
def test_bad_requests(tmp_path, fmt, quantize, match):
    with pytest.raises(ValueError, match=match):
        export("does-not-matter", fmt, str(tmp_path / "out"), quantize=quantize)


def test_projected_network_is_refused_with_the_projection_hint(tmp_path):
    from keras_pn.testing import TINY_PN
    from tests.architecture_presets import write_architecture_preset

    preset = write_architecture_preset(tmp_path / "pn", "ProjectedGPTBackbone", **TINY_PN)
    with pytest.raises(ExportError, match=r"project\(expert=i\).*recipes\.specialize"):
        export(preset, "hf", str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_existing_output_is_refused_and_kept(tiny_preset, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(ExportError, match="--overwrite"):
        export(tiny_preset, "hf", str(out))
    assert (out / "mine.txt").read_text() == "keep me"
    with pytest.raises(ExportError, match="delete it"):
        export(tiny_preset, "hf", tiny_preset, overwrite=True)


def test_failed_export_keeps_the_old_one_and_overwrite_replaces(tiny_preset, tmp_path, monkeypatch):
    out = tmp_path / "out"
    export(tiny_preset, "hf", str(out))
    before = sorted(os.listdir(out))

    def broken(model, directory, quantize):
        (directory / "model.safetensors").write_bytes(b"half")
        raise RuntimeError("disk full")

    monkeypatch.setitem(export_module._WRITERS, "hf", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        export(tiny_preset, "hf", str(out), overwrite=True)
    assert sorted(os.listdir(out)) == before
    assert os.path.getsize(out / "model.safetensors") > 1000
    assert [p for p in os.listdir(tmp_path) if p.startswith(".out")] == []  # no staging left
    monkeypatch.undo()
    manifest = export(tiny_preset, "keras", str(out), overwrite=True)
    assert manifest["format"] == "keras" and os.path.isfile(out / "model.weights.h5")


@pytest.mark.parametrize("fmt", ["onnx", "litert"])
def test_a_graph_export_without_the_decode_step_is_refused_with_the_fix(tmp_path, fmt):
    import json

    from keras_pn.export.runtimes import load_runtime

    # What keras_pn wrote before the decode step: a full-sequence graph's manifest.
    manifest = {"format": fmt, "inputs": ["token_ids", "padding_mask"], "vocabulary_size": 8}
    (tmp_path / "export.json").write_text(json.dumps(manifest))
    with pytest.raises(ExportError, match="no key/value cache.*--overwrite"):
        load_runtime(str(tmp_path))


def test_check_domain_reads_the_test_files_of_a_txt_folder(tmp_path):
    from keras_pn.data.text_folder import split_files
    from keras_pn.export.parity import domain_texts

    names = [f"doc{i}.txt" for i in range(10)]
    for i, name in enumerate(names):
        (tmp_path / name).write_text(f"document number {i}", encoding="utf-8")
    expected = [(tmp_path / n).read_text() for n in split_files(names, 0)["test"]]
    assert domain_texts(str(tmp_path)) == expected
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(ExportError, match="bad.txt.*Fix"):
        domain_texts(str(tmp_path))
