"""Run every benchmark, collect its ``RATIO`` lines and (re)generate ``bench/RESULTS.md``.

The scripts run one after the other (never in parallel: they time things), each in
its own process, in the issue's order: pn_overhead, vs_keras_hub, inference,
kmeans, embedding, input_pipeline, quality, generation_speed (which runs every
backend itself: its ratios compare them). Backend-dependent scripts run once per
backend asked for. Each script's full output is kept in ``--logs``
(``<script>__<backend>.log``); RESULTS.md is written from those logs only, so it
is never typed by hand. The goals (what the product should reach, not test
assertions) live in ``GOALS`` below.

Usage::

    python bench/run_all.py --quick                      # jax, every script --quick
    python bench/run_all.py --backend=all                # the full measurements
    python bench/run_all.py --scripts=inference,quality --workdir=runs/plan_early
    python bench/run_all.py --from_logs=out/logs --output=out/RESULTS.md   # no runs
"""

from __future__ import annotations

import argparse
import datetime
import glob
import os
import platform
import re
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BACKENDS = ("jax", "tensorflow", "torch")
# In the order; True: takes --backend and runs once per backend.
SCRIPTS = (
    ("pn_overhead", True),
    ("vs_keras_hub", True),
    ("inference", True),
    ("kmeans", True),
    ("embedding", True),
    ("input_pipeline", True),
    ("quality", False),
    ("generation_speed", False),  # one child process per backend and runtime itself
)
# (pattern matched against the ratio name from its start, goal text, test).
GOALS = (
    (r"pn_single_cluster_over_slm_", "<= 1.25", lambda v: v <= 1.25),
    (r"vs_keras_hub_step_time_", "<= 1.00", lambda v: v <= 1.0),
    (r"inference_expert_over_slm_", "1.00 +- 0.05", lambda v: 0.95 <= v <= 1.05),
    (r"kmeans_time_vs_faiss_", "<= 2.0", lambda v: v <= 2.0),
    (r"kmeans_inertia_vs_faiss_", "<= 1.01", lambda v: v <= 1.01),
    (r"embedding_docs_per_s_vs_sentence_transformers_", ">= 0.8", lambda v: v >= 0.8),
    (r"input_pipeline_over_training$", ">= 10", lambda v: v >= 10),
    (r"quality_slm_is_over_slm_", "<= 0.90", lambda v: v <= 0.90),
    (r"quality_pn_over_slm_", "<= 0.95", lambda v: v <= 0.95),
    (r"generation_fastest_export_over_keras_pn_best_", ">= 3", lambda v: v >= 3),
    (r"generation_int8_over_float32_", ">= 1.5", lambda v: v >= 1.5),
)
RATIO = re.compile(r"^RATIO (\S+) (\S+)\s*$")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="pass --quick to every script")
    p.add_argument("--backend", default="jax", choices=[*BACKENDS, "all"])
    p.add_argument("--scripts", default=None, help="comma-separated subset (default: all)")
    p.add_argument("--workdir", default="runs/plan_early", help="quality.py's plan_early run")
    p.add_argument("--extra", action="append", default=[],
                   help="SCRIPT:ARG, an extra argument for one script (repeatable)")
    p.add_argument("--timeout", type=float, default=None, help="seconds per script run")
    p.add_argument("--logs", default=os.path.join(HERE, "logs"), help="where outputs are kept")
    p.add_argument("--output", default=os.path.join(HERE, "RESULTS.md"))
    p.add_argument("--from_logs", default=None, help="only regenerate RESULTS.md from these logs")
    return p.parse_args(argv)


def goal_of(name):
    for pattern, text, test in GOALS:
        if re.match(pattern, name):
            return text, test
    return "", None


def parse_log(text):
    """``[(name, value)]`` of a script's output, in order."""
    out = []
    for line in text.splitlines():
        match = RATIO.match(line.strip())
        if match:
            try:
                out.append((match.group(1), float(match.group(2))))
            except ValueError:
                pass
    return out


def run_one(script, backend, args):
    cmd = [sys.executable, os.path.join(HERE, f"{script}.py")]
    if backend:
        cmd.append(f"--backend={backend}")
    if args.quick:
        cmd.append("--quick")
    if script == "quality":
        cmd.append(f"--workdir={args.workdir}")
    cmd += [e.split(":", 1)[1] for e in args.extra if e.split(":", 1)[0] == script]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    if backend:
        env["KERAS_BACKEND"] = backend
    print(f"\n### {' '.join(cmd[1:])}", flush=True)
    start = time.perf_counter()
    lines, status = [], None
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, cwd=os.path.dirname(HERE))

    def tee():  # the console and the log
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            lines.append(line)

    reader = threading.Thread(target=tee, daemon=True)
    reader.start()
    try:
        status = proc.wait(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        status = "timeout"
    except KeyboardInterrupt:
        proc.kill()
        raise
    reader.join(timeout=10)
    wall = time.perf_counter() - start
    header = f"# command: {' '.join(cmd[1:])}\n# exit: {status}\n# wall_s: {wall:.1f}\n"
    name = f"{script}__{backend or 'none'}.log"
    os.makedirs(args.logs, exist_ok=True)
    with open(os.path.join(args.logs, name), "w") as f:
        f.write(header + "".join(lines))
    return name


def read_logs(directory):
    """``[{script, backend, exit, wall_s, ratios, path}]`` from ``<script>__<backend>.log`` files."""
    order = {s: i for i, (s, _) in enumerate(SCRIPTS)}
    runs = []
    for path in glob.glob(os.path.join(directory, "*__*.log")):
        script, backend = os.path.basename(path)[: -len(".log")].split("__", 1)
        text = open(path, errors="replace").read()
        meta = dict(re.findall(r"^# (exit|wall_s|command): (.*)$", text, re.M))
        runs.append({
            "script": script,
            "backend": "" if backend == "none" else backend,
            "exit": meta.get("exit", "?"),
            "wall_s": meta.get("wall_s", "?"),
            "command": meta.get("command", ""),
            "ratios": parse_log(text),
            "note": _note(text, meta.get("exit")),
            "path": path,
        })
    runs.sort(key=lambda r: (order.get(r["script"], len(order)), r["script"],
                             BACKENDS.index(r["backend"]) if r["backend"] in BACKENDS else 9))
    return runs


def _note(text, status):
    if status in ("0", None):
        return ""
    if "no results in" in text:
        return "no plan_early results (run `python -m recipes.plan_early` first)"
    if status == "timeout":
        return "timed out"
    lines = [l.strip() for l in text.splitlines() if l.strip() and not l.startswith("#")]
    errors = [l for l in lines if re.search(r"(Error|Exception)\b", l)]
    tail = (errors or lines)[-1:]
    return tail[0][:160].replace("|", "/") if tail else ""


def versions():
    from importlib import metadata

    out = []
    for package in ("keras", "keras-hub", "jax", "jaxlib", "tensorflow", "torch", "faiss-cpu",
                    "scikit-learn", "sentence-transformers", "data-selection", "numpy"):
        try:
            out.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(out)


def machine_lines():
    sys.path.insert(0, HERE)
    from common import cpu_model

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    lines = [
        f"- CPU: {cpu_model()}, {cores} cores available ({os.cpu_count()} online); "
        f"load average at generation {os.getloadavg()[0]:.1f}",
        f"- Host: {platform.node()}, {platform.platform()}, Python {platform.python_version()}",
    ]
    try:
        gpus = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
        if gpus.returncode == 0 and gpus.stdout.strip():
            lines.append("- Accelerators: " + "; ".join(gpus.stdout.strip().splitlines()))
    except (OSError, subprocess.SubprocessError):
        pass
    lines.append(f"- Versions: {versions()}")
    return lines


# Sections below this line of RESULTS.md are written by hand from single scripts'
# outputs (the regime sweep, generation speed); regenerating keeps them as they are.
HAND_WRITTEN = "<!-- Hand-written sections below: bench/run_all.py keeps them. -->"


def hand_written_sections(output):
    """The part of ``output`` from the `HAND_WRITTEN` marker on ("" without one)."""
    try:
        with open(output) as f:
            text = f.read()
    except FileNotFoundError:
        return ""
    at = text.find(HAND_WRITTEN)
    return "" if at < 0 else "\n" + text[at:]


def write_results(runs, output, invocation):
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    md = [
        "# Benchmark results",
        "",
        f"Generated by `{invocation}` on {now} from the scripts' `RATIO` lines; "
        "do not edit by hand, rerun it. Goals are what the product should reach "
        "(`GOALS` in `bench/run_all.py`), not test assertions. Speed ratios are "
        "keras_pn / other (time: lower is better; throughput: higher is better).",
        "",
        "## Machine",
        "",
        *machine_lines(),
        "",
        "## Ratios",
        "",
        "| script | backend | ratio | value | goal | met? |",
        "|---|---|---|---|---|---|",
    ]
    met = missed = 0
    for run in runs:
        for name, value in run["ratios"]:
            goal, test = goal_of(name)
            verdict = ""
            if test is not None:
                ok = test(value)
                verdict = "yes" if ok else "**no**"
                met, missed = met + ok, missed + (not ok)
            shown = f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
            md.append(f"| {run['script']}.py | {run['backend'] or '-'} | `{name}` | {shown} | {goal} | {verdict} |")
    md += [
        "",
        f"Goals met: {met} of {met + missed}.",
        "",
        "## Runs",
        "",
        "| script | backend | exit | wall s | command | note |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        md.append(f"| {run['script']}.py | {run['backend'] or '-'} | {run['exit']} | {run['wall_s']} "
                  f"| `{run['command']}` | {run['note']} |")
    kept = hand_written_sections(output)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "w") as f:
        f.write("\n".join(md) + "\n" + kept)
    print(f"\nwrote {output}: {sum(len(r['ratios']) for r in runs)} ratios, goals met {met}/{met + missed}")


def main(argv=None):
    args = parse_args(argv)
    invocation = "python bench/run_all.py " + " ".join((argv if argv is not None else sys.argv[1:]))
    if args.from_logs:
        write_results(read_logs(args.from_logs), args.output, invocation.strip())
        return 0
    wanted = args.scripts.split(",") if args.scripts else [s for s, _ in SCRIPTS]
    unknown = set(wanted) - {s for s, _ in SCRIPTS}
    if unknown:
        raise SystemExit(f"Unknown scripts {sorted(unknown)}; known: {[s for s, _ in SCRIPTS]}.")
    backends = BACKENDS if args.backend == "all" else (args.backend,)
    os.makedirs(args.logs, exist_ok=True)
    for old in glob.glob(os.path.join(args.logs, "*__*.log")):  # this run's logs only
        os.remove(old)
    for script, per_backend in SCRIPTS:
        if script not in wanted:
            continue
        for backend in backends if per_backend else (None,):
            run_one(script, backend, args)
    write_results(read_logs(args.logs), args.output, invocation.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
