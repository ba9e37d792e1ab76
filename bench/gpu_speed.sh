#!/usr/bin/env bash
# Speed measurements for a lent GPU (one NVIDIA H200, at most 10 minutes in all).
#
#   bash bench/gpu_speed.sh              # on the GPU machine; results under $OUT
#   bash bench/gpu_speed.sh --dry-run    # tiny sizes on whatever is there (a CPU check)
#   PYTHON=python3.12 bash bench/gpu_speed.sh --dry-run   # also the offline install
#
# The machine is air-gapped: it holds Python with jax and torch (CUDA) but no keras,
# keras-hub or network. Where $PYTHON cannot import keras and keras_hub, keras_pn's
# wheels are installed first from $WHEELS (default bench/wheels312, filled on a connected
# machine by bench/gather_wheels.sh and carried along: the device tool's
# `carry: ["bench/wheels312"]`) with `pip install --no-index` into .gpu_site
# (bench/gpu_wheels.sh). The Python used is $PYTHON, else .venv-gpu/bin/python, else
# .venv/bin/python (a CPU checkout), else python3 (a GPU machine's own). A backend that does
# not see a GPU is skipped (in --dry-run every installed backend runs); TensorFlow is
# usually absent there, and steps that need it (input_pipeline, embedding) fail alone.
#
# Steps, in priority order, each under its own timeout; once BUDGET_S seconds (default
# 540) have passed no new step starts (a skipped step is listed in $OUT/skipped.txt):
#   1. training MFU, slm_paper and pn_paper, mixed_bfloat16, batch 32 x 1024, per backend
#      (bench/train_mfu.py; on torch also the plain PyTorch GPT, bench/torch_reference.py);
#   2. the speed benchmarks once, on jax: vs_keras_hub, pn_overhead, inference, kmeans,
#      embedding, input_pipeline.
# Every step's output goes to $OUT/logs/<script>__<backend>.log; at the end
# bench/run_all.py --from_logs writes $OUT/RESULTS.md from them. $OUT/env.txt records the
# machine (nvidia-smi, versions, the devices each backend sees).
set -uo pipefail
cd "$(dirname "$0")/.."
DRY=0
for arg in "$@"; do
  case "$arg" in
    --dry-run|--dry_run|--small) DRY=1 ;;
    *) echo "unknown argument $arg" >&2; exit 2 ;;
  esac
done
OUT=${OUT:-$PWD/bench/gpu_out}
mkdir -p "$OUT/logs"
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv-gpu/bin/python ]; then PYTHON=.venv-gpu/bin/python
  elif [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python
  else PYTHON=python3; fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # keras_pn and bench/ from the checkout
if ! "$PYTHON" -c "import keras, keras_hub" > /dev/null 2>&1; then
  echo "### installing keras_pn's wheels from ${WHEELS:-bench/wheels312} (no index)"
  PYTHON=$PYTHON bash bench/gpu_wheels.sh | tee "$OUT/install.txt" || {
    echo "could not install keras_pn's wheels: see above" | tee -a "$OUT/install.txt"; exit 2; }
  eval "$(bash bench/gpu_wheels.sh --print-env)"
fi
BUDGET_S=${BUDGET_S:-540}
PEAK=${PEAK_TFLOPS:-989.4}   # H200 dense bf16 tensor-core peak (TFLOP/s)
# TF must not reserve the GPU's memory next to jax / torch (Keras imports it for tf.data).
export TF_CPP_MIN_LOG_LEVEL=3 XLA_PYTHON_CLIENT_PREALLOCATE=false TF_FORCE_GPU_ALLOW_GROWTH=true
T0=$SECONDS
: > "$OUT/skipped.txt"

# step NAME BACKEND LIMIT_S ARGS...: run `$PYTHON ARGS...` into logs/NAME__BACKEND.log.
step() {
  local name=$1 backend=$2 limit=$3; shift 3
  local left=$((BUDGET_S - (SECONDS - T0)))
  if [ "$left" -lt 45 ]; then
    echo "$name $backend: not started, ${left}s of the budget left" | tee -a "$OUT/skipped.txt"
    return 0
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  local log="$OUT/logs/${name}__${backend}.log" t=$SECONDS
  echo "### [$((SECONDS - T0))s] $name $backend (<= ${limit}s): $*"
  KERAS_BACKEND=$backend timeout -k 5 "$limit" "$PYTHON" "$@" > "$log.out" 2>&1
  local rc=$?
  [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && rc=timeout
  { echo "# command: $*"; echo "# exit: $rc"; echo "# wall_s: $((SECONDS - t))"
    grep -v -e '^I0000' -e '^W0000' -e 'absl::InitializeLog' "$log.out"; } > "$log"
  rm -f "$log.out"
  grep -E '^(RATIO|# )' "$log" | tail -n 12
}

{
  echo "date: $(date -Is)"; echo "python: $PYTHON"; echo "dry run: $DRY"
  nvidia-smi 2>/dev/null || echo "no nvidia-smi"
  "$PYTHON" - <<'EOF' 2>&1 | grep -v -e '^I0000' -e '^W0000'
import importlib.metadata as m
for p in ("keras", "keras-hub", "jax", "jaxlib", "jax-cuda12-plugin", "tensorflow", "torch"):
    try:
        print(p, m.version(p))
    except m.PackageNotFoundError:
        print(p, "not installed")
EOF
} > "$OUT/env.txt"

gpu_backends=""
importable=""
for b in jax tensorflow torch; do
  seen=$(KERAS_BACKEND=$b timeout 120 "$PYTHON" - "$b" <<'EOF' 2>/dev/null | tail -n 1
import sys
b = sys.argv[1]
try:
    if b == "jax":
        import jax
        print(any(d.platform == "gpu" for d in jax.devices()), jax.devices())
    elif b == "tensorflow":
        import tensorflow as tf
        g = tf.config.list_physical_devices("GPU")
        print(bool(g), g)
    else:
        import torch
        print(torch.cuda.is_available(), torch.cuda.device_count())
except Exception as e:
    print(False, repr(e)[:200])
EOF
)
  echo "$b sees: ${seen:-nothing}" | tee -a "$OUT/env.txt"
  case "$seen" in True*) gpu_backends="$gpu_backends $b" ;; esac
  case "$seen" in ""|*ModuleNotFoundError*|*ImportError*) ;; *) importable="$importable $b" ;; esac
done

if [ "$DRY" = 1 ]; then
  backends=$importable  # every backend installed here, on whatever device it sees
  MFU=(--presets=slm_tiny,pn_tiny --batch_size=2 --seq_len=32 --steps=2 --warmup=1 --repeats=1
       --peak_tflops=1.0)
  SPEED=jax
else
  backends=$gpu_backends
  MFU=(--presets=slm_paper,pn_paper --batch_size=32 --steps=20 --warmup=3 --repeats=3
       --peak_tflops="$PEAK")
  SPEED=$(echo $gpu_backends | cut -d' ' -f1)
  if [ -z "$backends" ]; then
    echo "No backend sees a GPU (see $OUT/env.txt and $OUT/install.txt)." | tee -a "$OUT/skipped.txt"
  fi
fi

# 1. Training MFU per backend (jax first: the most likely to be there).
for b in jax torch tensorflow; do
  case " $backends " in *" $b "*) ;; *) continue ;; esac
  extra=()
  [ "$b" = torch ] && extra=(--reference ${TORCH_COMPILE:+--torch_compile})
  step train_mfu "$b" 200 bench/train_mfu.py --backend="$b" --dtype_policy=mixed_bfloat16 \
    "${MFU[@]}" "${extra[@]}"
done

# 2. The speed benchmarks, once, on one backend.
if [ -n "${SPEED:-}" ]; then
  if [ "$DRY" = 1 ]; then
    step vs_keras_hub "$SPEED" 120 bench/vs_keras_hub.py --backend="$SPEED" --batch_size=2 --seq_len=32 --repeats=1 --steps=1
    step inference "$SPEED" 120 bench/inference.py --backend="$SPEED" --batch_size=2 --seq_len=32 --generate_batch=1 --generate_len=24 --repeats=1
    step kmeans "$SPEED" 120 bench/kmeans.py --backend="$SPEED" --n=2000 --k=16 --iters=2 --reps=1
  else
    step vs_keras_hub "$SPEED" 120 bench/vs_keras_hub.py --backend="$SPEED"
    step pn_overhead "$SPEED" 90 bench/pn_overhead.py --backend="$SPEED"
    step inference "$SPEED" 90 bench/inference.py --backend="$SPEED"
    step kmeans "$SPEED" 150 bench/kmeans.py --backend="$SPEED" --reps=2
    step embedding "$SPEED" 90 bench/embedding.py --backend="$SPEED"
    step input_pipeline "$SPEED" 60 bench/input_pipeline.py --backend="$SPEED"
  fi
fi

# Keras' default backend is tensorflow, which an accelerator machine may not have.
first=$(echo $importable | cut -d' ' -f1)
KERAS_BACKEND=${first:-jax} "$PYTHON" bench/run_all.py --from_logs="$OUT/logs" --output="$OUT/RESULTS.md" | tail -n 1
echo "done in $((SECONDS - T0))s; results in $OUT (RESULTS.md, logs/, env.txt, skipped.txt)"
