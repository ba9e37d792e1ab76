"""Cached units of work: fingerprints, manifests, and the runner of the stale ones.

A *unit* is one stage applied to one domain, one k, ...; its manifest
(``manifests/<unit>.json``) holds the fingerprint of its inputs (its parameters and
the fingerprints of the units it consumes), its status and its times. A unit whose
fingerprint is unchanged and whose outputs exist is skipped; a crash leaves it marked
"running", and a resumable unit resumes there.

>>> plan = UnitPlan()
>>> a = plan.add(Unit("a", "tokenizer", {"x": 1}, (), lambda: {}))
>>> b = plan.add(Unit("b", "windows", {}, (), lambda: {}, deps=("a",)))
>>> [u.name for u in plan.units], len(b.fingerprint)
(['a', 'b'], 64)
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from keras_pn.data.prepare.layout import WorkdirLayout
from keras_pn.file_io import atomic_write_json, remove

logger = logging.getLogger(__name__)

STAGES = (
    "tokenizer",
    "windows",
    "subsets",
    "embeddings",
    "clusters",
    "shards",
    "stats",
)
# Bump a stage's version when its code changes what it writes: its units rerun.
STAGE_VERSIONS = {stage: 1 for stage in STAGES}


class UnitName:
    """The name of every unit (its manifest is ``manifests/<name>.json``)."""

    TOKENIZER = "tokenizer"
    GENERIC_WINDOWS = "windows/generic"
    GENERIC_VALID = "windows/generic_valid"
    GENERIC_EMBEDDINGS = "embeddings/generic"
    STATS = "stats"

    @staticmethod
    def domain_windows(domain: str) -> str:
        return f"windows/domains/{domain}"

    @staticmethod
    def subsets(domain: str) -> str:
        return f"subsets/{domain}"

    @staticmethod
    def domain_embeddings(domain: str) -> str:
        return f"embeddings/domains/{domain}"

    @staticmethod
    def clusters(k: int) -> str:
        return f"clusters/k{k}"

    @staticmethod
    def shards(k: int) -> str:
        return f"shards/k{k}"

    @staticmethod
    def assign(k: int, domain: str) -> str:
        return f"assign/k{k}/{domain}"

    @staticmethod
    def histograms(k: int, domain: str) -> str:
        return f"histograms/k{k}/{domain}"


def read_json(path: Path) -> Any:
    """The parsed JSON file; None when it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def sha256_of(obj: Any) -> str:
    """The sha256 of ``obj``'s canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def file_signature(paths: Sequence[Path]) -> list[list[Any]]:
    """(name, size, mtime_ns) of each file: what a cache key sees of a corpus."""
    out = []
    for p in paths:
        st = p.stat()
        out.append([p.name, st.st_size, st.st_mtime_ns])
    return out


def manifest_summary(layout: WorkdirLayout, unit: str) -> dict[str, Any]:
    """The summary a finished unit recorded in its manifest ({} if none)."""
    return (read_json(layout.manifest(unit)) or {}).get("summary", {})


def _peak_rss_mb() -> float | None:
    """Peak resident memory of this process so far (MiB), where the OS reports it."""
    try:
        import resource

        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    except (ImportError, OSError):  # pragma: no cover - non-POSIX
        return None


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


@dataclasses.dataclass
class Unit:
    """One cached piece of work: a stage applied to one domain / one k / ...

    Attributes:
        name: the unit's name (its manifest is ``manifests/<name>.json``).
        stage: one of `STAGES`.
        params: what the unit's output depends on, besides its dependencies.
        outputs: the files or directories it writes (all must exist when cached).
        run: does the work; returns the summary kept in the manifest.
        deps: names of the units whose outputs it reads.
        check: raises `PreparationError` on bad input, before anything is written.
        resumable: an interrupted run continues from its partial outputs.
        fingerprint: set by `UnitPlan.add`.
    """

    name: str
    stage: str
    params: dict[str, Any]
    outputs: tuple[Path, ...]
    run: Callable[[], dict[str, Any]]
    deps: tuple[str, ...] = ()
    check: Callable[[], None] | None = None
    resumable: bool = False
    fingerprint: str = ""


class UnitPlan:
    """The units of a preparation, in execution order, with their fingerprints."""

    def __init__(self):
        self._units: dict[str, Unit] = {}

    def add(self, unit: Unit) -> Unit:
        """Fingerprints ``unit`` (its dependencies must be added first); returns it."""
        unit.fingerprint = sha256_of(
            {
                "stage": unit.stage,
                "version": STAGE_VERSIONS[unit.stage],
                "params": unit.params,
                "deps": {d: self._units[d].fingerprint for d in unit.deps},
            }
        )
        self._units[unit.name] = unit
        return unit

    @property
    def units(self) -> list[Unit]:
        return list(self._units.values())


class UnitRunner:
    """Runs the stale units of a workdir, writing their manifests."""

    def __init__(self, layout: WorkdirLayout):
        self.layout = layout

    def status(self, unit: Unit) -> str:
        """ "cached", "resume" (same inputs, interrupted) or "stale"."""
        manifest = read_json(self.layout.manifest(unit.name))
        if not manifest or manifest.get("fingerprint") != unit.fingerprint:
            return "stale"
        if manifest.get("status") == "complete" and all(
            Path(o).exists() for o in unit.outputs
        ):
            return "cached"
        return (
            "resume"
            if unit.resumable and manifest.get("status") == "running"
            else "stale"
        )

    def execute(self, units: list[Unit]) -> tuple[dict[str, float], list[str]]:
        """Runs the units that are not cached; returns (wall s per stage, names run)."""
        root = self.layout.root
        status = {u.name: self.status(u) for u in units}
        todo = [u for u in units if status[u.name] != "cached"]
        # Checks whose inputs are already prepared run before anything is written.
        for u in todo:
            if u.check and all(status[d] == "cached" for d in u.deps):
                u.check()
        stage_seconds = {stage: 0.0 for stage in STAGES}
        if not todo:
            logger.info("All %d units are up to date in %s.", len(units), root)
            return stage_seconds, []
        per_stage = {s: sum(u.stage == s for u in todo) for s in STAGES}
        logger.info(
            "%d of %d units to run in %s (%s).",
            len(todo),
            len(units),
            root,
            ", ".join(f"{s}: {n}" for s, n in per_stage.items() if n),
        )
        fingerprints = {u.name: u.fingerprint for u in units}
        for i, u in enumerate(todo, 1):
            if u.check:
                u.check()
            if status[u.name] == "stale" and u.resumable:
                # A partial cache of other inputs must not be resumed. Other units
                # replace their outputs atomically, keeping the old ones until then.
                for o in u.outputs:
                    remove(o)
            logger.info(
                "[%d/%d] %s: %s.",
                i,
                len(todo),
                u.name,
                "resuming" if status[u.name] == "resume" else "running",
            )
            manifest = {
                "unit": u.name,
                "stage": u.stage,
                "fingerprint": u.fingerprint,
                "params": u.params,
                "deps": {d: fingerprints[d] for d in u.deps},
                "status": "running",
                "started_at": _now(),
            }
            atomic_write_json(self.layout.manifest(u.name), manifest)
            t0, c0 = time.perf_counter(), time.process_time()
            summary = u.run()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            stage_seconds[u.stage] += wall
            manifest.update(
                status="complete",
                summary=summary,
                wall_s=round(wall, 3),
                cpu_s=round(cpu, 3),
                peak_rss_mb=_peak_rss_mb(),
                finished_at=_now(),
            )
            atomic_write_json(self.layout.manifest(u.name), manifest)
            logger.info(
                "[%d/%d] %s: done in %.1fs (%.1fs CPU).",
                i,
                len(todo),
                u.name,
                wall,
                cpu,
            )
        return stage_seconds, [u.name for u in todo]
