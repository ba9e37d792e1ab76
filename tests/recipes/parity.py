"""Same seed, same results: run CI's one-domain plan_early into a workdir, compare two runs.

A refactor must not change results. Run the one-domain `plan_early` of
tests/recipes/test_plan_early.py (every method, tiny models, hashed clusters) before
and after, then compare the two `results.json` (measured seconds, devices and paths
aside):

    KERAS_BACKEND=jax python -m tests.recipes.parity run /tmp/before
    ... (change the code) ...
    KERAS_BACKEND=jax python -m tests.recipes.parity run /tmp/after
    python -m tests.recipes.parity compare /tmp/before/run/results.json /tmp/after/run/results.json
"""

import json
import sys
from pathlib import Path

# Measured or machine-specific fields: they differ between any two runs.
_IGNORED = {"seconds", "device", "run_dir", "preset", "timestamp", "created", "wall_s"}


def run(out):
    from keras_pn.plan_early import run_plan_early
    from tests.recipes import test_plan_early as fixture

    out = Path(out)
    generic_dir, domain_dirs = fixture.write_corpus(out / "fixture")
    config, prepare = fixture.tiny_configs(out / "fixture" / "presets")
    run_plan_early(str(out / "run"), generic_dir=generic_dir, domain_dirs=domain_dirs,
                   config=config, prepare=prepare)
    return out / "run" / "results.json"


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in _IGNORED and "second" not in k}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    if isinstance(value, str) and value.startswith("/"):
        return "<path>"
    return value


def differences(a, b, path=""):
    """Lines `path: a != b` for every difference between two stripped results."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                out.append(f"{path}/{key}: only in one")
            else:
                out += differences(a[key], b[key], f"{path}/{key}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def compare(first, second):
    a, b = (_strip(json.loads(Path(p).read_text())) for p in (first, second))
    return differences(a, b)


if __name__ == "__main__":
    command, *args = sys.argv[1:] or ["help"]
    if command == "run" and len(args) == 1:
        print(run(args[0]))
    elif command == "compare" and len(args) == 2:
        found = compare(*args)
        print("\n".join(found) or "IDENTICAL")
        sys.exit(1 if found else 0)
    else:
        sys.exit(__doc__)
