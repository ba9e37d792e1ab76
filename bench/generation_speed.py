"""Batch-1 CPU generation speed of one specialized model: keras_pn vs its exports.

One prompt of about 16 tokens, greedy, a fixed number of new tokens (128, or fewer
where the model's context ends first: the zoo's tiny presets have 128 positions,
so 112 follow a 16-token prompt), no stop token. For each row: generated
tokens/s (new tokens / wall time of the whole call) and the first token's latency
(prompt in, first new token out). Rows:

* ``keras_pn`` on each backend (one child process per backend), float32 and int8
  (``model.quantize("int8")``): ``keras_pn.generation.generate_text``, the
  streaming loop ``recipes.generate`` runs (first token: when it is streamed),
  and ``model.generate`` (compiled, key/value cache; first token: a one-token call).
* the exports ``keras_pn.export.export`` writes (to a temporary directory), each
  run in its own runtime in a child process, float32 and int8: onnxruntime and
  the LiteRT interpreter run the exported decode step (one token over a fixed-size
  key/value cache, ``keras_pn.export.decode_step``) through
  ``keras_pn.export.runtimes.load_runtime(dir).generate``, what users of the
  exports call (one session / interpreter, caches in its input buffers, the prompt
  fed one step per token; first token: after the prompt's steps); and
  transformers ``GPT2LMHeadModel.generate`` (key/value cache; int8: torch dynamic
  quantization of its linear layers, GPT-2's ``Conv1D`` converted to ``nn.Linear``
  first).
* llama.cpp: skipped (no wheel; building it from source takes ~28 min here).

Greedy decoding makes every row's tokens comparable: each row reports how many of
its first new tokens match keras_pn float32's.

Usage::

    python bench/generation_speed.py                 # every backend and runtime
    python bench/generation_speed.py --quick         # 32 new tokens, 1 repeat
    python bench/generation_speed.py --backend=jax --runtimes=keras_pn,onnxruntime

Ends with ``RATIO <name> <value>`` lines (``bench/run_all.py`` collects them).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

try:  # python -m bench.<name>
    from bench.common import BACKENDS, add_backend_flag, machine, ratio
except ImportError:  # python bench/<name>.py
    from common import BACKENDS, add_backend_flag, machine, ratio

PROMPT = "def count_words(text):\n    counts"  # ~16 tokens with the zoo's python tokenizer
EXPORT_RUNTIMES = ("onnxruntime", "litert", "transformers")
RUNTIMES = ("keras_pn", *EXPORT_RUNTIMES)
KERAS_PATHS = ("stream", "generate")
DTYPES = ("float32", "int8")
ROW = "ROW "  # a child's machine-readable result line


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_backend_flag(p, help="keras_pn's backend; 'all' (default): one process per backend")
    p.set_defaults(backend="all")
    p.add_argument("--quick", action="store_true", help="32 new tokens, 1 repeat (a few minutes)")
    p.add_argument("--preset", default="zoo/python/pn_tiny_python", help="a GPT (or PN with --expert) preset")
    p.add_argument("--expert", type=int, default=None, help="the expert of a projected-network preset")
    p.add_argument("--new_tokens", type=int, default=None, help="default 128 (quick: 32), capped by the context")
    p.add_argument("--repeats", type=int, default=None, help="timed calls per row, median (default 3; quick 1)")
    p.add_argument("--runtimes", default=",".join(RUNTIMES), help=f"comma-separated subset of {RUNTIMES}")
    p.add_argument("--keras_paths", default=",".join(KERAS_PATHS),
                   help="keras_pn rows: stream (generation.generate_text), generate (model.generate)")
    p.add_argument("--dtypes", default=",".join(DTYPES))
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads of every runtime (default 1: batch-1 decoding of a tiny model "
                        "gains little from more, and torch's spinning threads lose most on a busy machine)")
    # Internal: what a child process measures.
    p.add_argument("--part", default=None, help=argparse.SUPPRESS)
    p.add_argument("--workdir", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.new_tokens = args.new_tokens or (32 if args.quick else 128)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.runtimes = [r for r in args.runtimes.split(",") if r]
    args.keras_paths = [k for k in args.keras_paths.split(",") if k]
    args.dtypes = [d for d in args.dtypes.split(",") if d]
    for name, values, known in (("runtimes", args.runtimes, RUNTIMES),
                                ("keras_paths", args.keras_paths, KERAS_PATHS),
                                ("dtypes", args.dtypes, DTYPES)):
        unknown = sorted(set(values) - set(known))
        if unknown:
            p.error(f"--{name}: unknown {unknown}; known: {', '.join(known)}")
    return args


# --- Timing ------------------------------------------------------------------


def emit(**row):
    """A child's result: one human line and one `ROW {json}` line for the parent."""
    name = row["runtime"] + (f" ({row['backend']})" if row.get("backend") else "")
    print(
        f"# {name:34s} {row['dtype']:7s} {row['tokens_per_s']:9.1f} tokens/s  "
        f"first token {row['first_token_ms']:8.1f} ms  ({row['new_tokens']} new tokens, "
        f"first call {row['first_call_s']:.1f} s; {row.get('how', '')})",
        flush=True,
    )
    print(ROW + json.dumps(row), flush=True)


def measure(generate, repeats):
    """`generate()` returns `(new token ids, first-token seconds)`; untimed warm-up, medians."""
    start = time.perf_counter()
    generate()
    first_call = time.perf_counter() - start
    totals, firsts, tokens = [], [], None
    for _ in range(repeats):
        start = time.perf_counter()
        tokens, first = generate()
        totals.append(time.perf_counter() - start)
        firsts.append(first)
    return tokens, statistics.median(totals), statistics.median(firsts), first_call


def record(runtime, dtype, generate, repeats, how, backend=None):
    tokens, total, first, first_call = measure(generate, repeats)
    tokens = [int(t) for t in tokens]
    emit(runtime=runtime, backend=backend, dtype=dtype, tokens_per_s=len(tokens) / total,
         first_token_ms=first * 1e3, first_call_s=first_call, new_tokens=len(tokens),
         tokens=tokens, how=how)


# --- Children: keras_pn on one backend --------------------------------------


def keras_part(args, job):
    import keras
    import numpy as np

    from keras_pn import generation

    if keras.config.backend() == "torch":
        import torch

        torch.set_num_threads(args.threads)
    print(f"# keras {keras.__version__}, backend {keras.config.backend()}", flush=True)
    for dtype in args.dtypes:
        model = generation.load_for_generation(args.preset, expert=args.expert)
        if dtype == "int8":
            model.quantize("int8")
        prompt_ids, new_tokens = job["prompt_ids"], job["new_tokens"]
        if "stream" in args.keras_paths:
            text = job["prompt_text"]

            def stream():
                start, first = time.perf_counter(), []

                def on_text(piece):
                    if not first:
                        first.append(time.perf_counter() - start)

                result = generation.generate_text(
                    model, text, max_new_tokens=new_tokens, sampler="greedy",
                    stop_at_end=False, on_text=on_text,
                )
                return result.new_token_ids, first[0] if first else float("nan")

            record("keras_pn generate_text", dtype, stream, args.repeats,
                   "streaming, key/value cache", backend=keras.config.backend())
        if "generate" in args.keras_paths:
            model.compile(sampler="greedy")
            model.preprocessor = None  # token ids in, token ids out
            p = len(prompt_ids)

            def inputs(length):
                ids = np.zeros((1, length), "int32")
                ids[0, :p] = prompt_ids
                mask = np.zeros((1, length), bool)
                mask[0, :p] = True
                return {"token_ids": ids, "padding_mask": mask}

            full, one = inputs(p + new_tokens), inputs(p + 1)

            def run(batch):
                def call():
                    start = time.perf_counter()
                    out = model.generate(batch, stop_token_ids=None)
                    ids = np.asarray(keras.ops.convert_to_numpy(out["token_ids"]))[0, p:]
                    return ids, time.perf_counter() - start
                return call

            _, first, _, _ = measure(run(one), args.repeats)  # compiles its own shape
            tokens, total, _, first_call = measure(run(full), args.repeats)
            emit(runtime="keras_pn model.generate", backend=keras.config.backend(), dtype=dtype,
                 tokens_per_s=new_tokens / total, first_token_ms=first * 1e3,
                 first_call_s=first_call, new_tokens=new_tokens, tokens=[int(t) for t in tokens],
                 how="key/value cache; first token: a one-token call")


# --- Children: the exports and their runtimes --------------------------------


def export_part(args, job):
    """Writes every export the runtimes asked for need, under `args.workdir`."""
    from keras_pn import generation
    from keras_pn.export import export

    model = generation.load_for_generation(args.preset, expert=args.expert)
    prompt_ids = generation.prompt_token_ids(model, PROMPT)
    context = int(model.backbone.max_sequence_length)
    job = {
        "prompt_ids": prompt_ids,
        "new_tokens": min(args.new_tokens, context - len(prompt_ids)),
        "context": context,
        "parameters": int(model.count_params()),
        "exports": {},
    }
    job["prompt_text"] = PROMPT
    formats = {"onnxruntime": "onnx", "litert": "litert", "transformers": "hf"}
    for runtime in args.runtimes:
        if runtime not in formats:
            continue
        for dtype in args.dtypes:
            if runtime == "transformers" and dtype == "int8":
                continue  # the exporter refuses int8 hf: torch quantizes the float checkpoint
            out = os.path.join(args.workdir, f"{formats[runtime]}_{dtype}")
            start = time.perf_counter()
            export(model, formats[runtime], out, quantize="int8" if dtype == "int8" else None)
            size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
            print(f"# exported {formats[runtime]} {dtype}: {size / 2**20:.1f} MiB in "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
            job["exports"][f"{runtime}_{dtype}"] = out
    with open(os.path.join(args.workdir, "job.json"), "w") as f:
        json.dump(job, f)


def runtime_label(runtime_name):
    if runtime_name == "onnxruntime":
        import onnxruntime

        return f"onnxruntime {onnxruntime.__version__}"
    return "LiteRT (ai-edge-litert)"


def cached_export_part(runtime_name, how):
    """A child timing `load_runtime(export).generate` (the exported decode step)."""

    def part(args, job):
        from keras_pn.export.runtimes import load_runtime

        for dtype in args.dtypes:
            export_dir = job["exports"][f"{runtime_name}_{dtype}"]
            runtime = load_runtime(export_dir, threads=args.threads)

            def generate():
                start, first = time.perf_counter(), []

                def on_token(token):
                    if not first:
                        first.append(time.perf_counter() - start)

                tokens = runtime.generate(job["prompt_ids"], job["new_tokens"], on_token=on_token)
                return tokens, first[0]

            record(runtime_label(runtime_name), dtype, generate, args.repeats, how)

    return part


onnxruntime_part = cached_export_part("onnxruntime", "decode step, key/value cache; I/O binding")
litert_part = cached_export_part("litert", "decode step, key/value cache; XNNPACK")


def linear_gpt2(model):
    """GPT-2's `Conv1D` layers as `nn.Linear` (the same math), so torch quantizes them."""
    import torch
    from transformers.pytorch_utils import Conv1D

    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, Conv1D):
                linear = torch.nn.Linear(child.weight.shape[0], child.weight.shape[1])
                linear.weight.data = child.weight.data.t().contiguous()
                linear.bias.data = child.bias.data
                setattr(parent, name, linear)
    return model


def transformers_part(args, job):
    import torch
    import transformers

    torch.set_num_threads(args.threads)
    directory = job["exports"]["transformers_float32"]
    prompt = torch.tensor([job["prompt_ids"]], dtype=torch.int64)
    n = job["new_tokens"]

    class FirstToken(transformers.generation.streamers.BaseStreamer):
        def __init__(self):
            self.calls, self.first = 0, None

        def put(self, value):  # the prompt first, then each new token
            self.calls += 1
            if self.calls == 2:
                self.first = time.perf_counter() - self.start

        def end(self):
            pass

    for dtype in args.dtypes:
        model = transformers.GPT2LMHeadModel.from_pretrained(directory).eval()
        how = "GPT2LMHeadModel.generate, key/value cache"
        if dtype == "int8":
            model = torch.ao.quantization.quantize_dynamic(
                linear_gpt2(model), {torch.nn.Linear}, dtype=torch.qint8
            )
            how += "; torch quantize_dynamic (int8 Linear)"

        def generate():
            streamer = FirstToken()
            streamer.start = time.perf_counter()
            with torch.no_grad():
                out = model.generate(
                    prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=n,
                    min_new_tokens=n, do_sample=False, streamer=streamer,
                    pad_token_id=model.config.pad_token_id,
                )
            return out[0, prompt.shape[1]:].tolist(), streamer.first

        record(f"transformers {transformers.__version__}", dtype, generate, args.repeats, how)


PARTS = {
    "keras_pn": keras_part,
    "export": export_part,
    "onnxruntime": onnxruntime_part,
    "litert": litert_part,
    "transformers": transformers_part,
}


# --- The parent: children, table, ratios -------------------------------------


def thread_env(threads):
    """Environment that holds TensorFlow, OpenMP (torch) and MKL to `threads` threads."""
    n = str(threads)
    env = {"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "TF_NUM_INTRAOP_THREADS": n,
           "TF_NUM_INTEROP_THREADS": n}
    if threads == 1:
        env["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
    return env


def run_child(args, part, backend, workdir):
    command = [sys.executable, os.path.abspath(__file__), f"--part={part}", f"--workdir={workdir}",
               f"--preset={args.preset}", f"--new_tokens={args.new_tokens}",
               f"--repeats={args.repeats}", f"--threads={args.threads}",
               f"--runtimes={','.join(args.runtimes)}", f"--keras_paths={','.join(args.keras_paths)}",
               f"--dtypes={','.join(args.dtypes)}", f"--backend={backend}"]
    if args.expert is not None:
        command.append(f"--expert={args.expert}")
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    if part != "export":  # the export traces at full speed
        env.update(thread_env(args.threads))
    print(f"# --- {part}" + (f" ({backend})" if part == "keras_pn" else "") + " ---", flush=True)
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    rows, tail = [], []
    for line in proc.stdout:
        if line.startswith(ROW):
            rows.append(json.loads(line[len(ROW):]))
        elif line.startswith("#"):
            print(line, end="", flush=True)
        else:
            tail = (tail + [line.rstrip()])[-15:]
    if proc.wait() != 0:
        print(f"# {part} ({backend}) failed (exit {proc.returncode}):", *tail, sep="\n# ", flush=True)
    return rows, proc.returncode


def slug(row):
    name = row["runtime"].split()[0].replace("-", "_").lower()
    if name == "keras_pn":
        name += "_stream" if "generate_text" in row["runtime"] else "_generate"
    elif name.startswith("litert"):
        name = "litert"
    return name + (f"_{row['backend']}" if row.get("backend") else "")


def report(rows, job):
    reference = next((r["tokens"] for r in rows if r["runtime"].startswith("keras_pn")
                      and r["dtype"] == "float32"), None)
    print(f"\n# {'runtime':36s} {'backend':10s} {'dtype':7s} {'tokens/s':>9s} {'first ms':>9s} "
          f"{'same tokens':>11s}")
    for r in rows:
        same = "-"
        if reference is not None:
            same = next((i for i, (a, b) in enumerate(zip(r["tokens"], reference)) if a != b),
                        min(len(r["tokens"]), len(reference)))
        print(f"# {r['runtime']:36s} {r.get('backend') or '-':10s} {r['dtype']:7s} "
              f"{r['tokens_per_s']:9.1f} {r['first_token_ms']:9.1f} {str(same) + '/' + str(r['new_tokens']):>11s}")
    print("# llama.cpp: skipped (llama-cpp-python has no wheel here; its source build takes ~28 min)")
    print(f"# {job['new_tokens']} new tokens after a {len(job['prompt_ids'])}-token prompt "
          f"(context {job['context']}); same tokens: new tokens equal to keras_pn float32's "
          "greedy ones before the first difference")
    for r in rows:
        ratio(f"generation_tokens_per_s_{slug(r)}_{r['dtype']}", r["tokens_per_s"])
        ratio(f"generation_first_token_ms_{slug(r)}_{r['dtype']}", r["first_token_ms"])
    by_key = {(slug(r), r["dtype"]): r["tokens_per_s"] for r in rows}
    for (name, dtype), value in by_key.items():
        if dtype == "int8" and (name, "float32") in by_key:
            ratio(f"generation_int8_over_float32_{name}", value / by_key[(name, "float32")])
    for dtype in DTYPES:
        keras_best = max((r for r in rows if r["runtime"].startswith("keras_pn") and r["dtype"] == dtype),
                         key=lambda r: r["tokens_per_s"], default=None)
        export_best = max((r for r in rows if not r["runtime"].startswith("keras_pn") and r["dtype"] == dtype),
                          key=lambda r: r["tokens_per_s"], default=None)
        if keras_best and export_best:
            print(f"# fastest {dtype}: export {slug(export_best)}, keras_pn {slug(keras_best)}")
            ratio(f"generation_fastest_export_over_keras_pn_best_{dtype}",
                  export_best["tokens_per_s"] / keras_best["tokens_per_s"])


def main(argv=None):
    args = parse_args(argv)
    if args.part:
        job = None
        if args.part != "export":
            with open(os.path.join(args.workdir, "job.json")) as f:
                job = json.load(f)
        PARTS[args.part](args, job)
        return 0
    backends = BACKENDS if args.backend == "all" else (args.backend,)
    print(f"# {machine()}; load average {os.getloadavg()[0]:.1f}; preset {args.preset}; "
          f"threads {args.threads}; repeats {args.repeats} (medians)", flush=True)
    rows, status = [], 0
    with tempfile.TemporaryDirectory(prefix="keras_pn_generation_bench_") as workdir:
        _, code = run_child(args, "export", "tensorflow", workdir)  # tensorflow: traces in-process
        if code != 0:
            return code
        with open(os.path.join(workdir, "job.json")) as f:
            job = json.load(f)
        print(f"# model: {job['parameters']:,} parameters; prompt ids {job['prompt_ids']}", flush=True)
        parts = [("keras_pn", b) for b in backends] if "keras_pn" in args.runtimes else []
        parts += [(r, "torch" if r == "transformers" else "jax") for r in EXPORT_RUNTIMES
                  if r in args.runtimes]
        for part, backend in parts:
            part_rows, code = run_child(args, part, backend, workdir)
            rows += part_rows
            status |= code
    report(rows, job)
    return status


if __name__ == "__main__":
    sys.exit(main())
