#!/usr/bin/env bash
# GPU wheels for bench/gpu_speed.sh, from PyPI by name only (no other index, no URL).
#
# Run it on a machine that can reach PyPI (the lent GPU machines cannot: build the
# environment where PyPI is reachable, or use an image that already has it). It makes a
# separate virtualenv (default .venv-gpu) so that the CPU environment (.venv, whose
# torch is a CPU build) stays as it is; gpu_speed.sh picks .venv-gpu when it exists.
#
#   bash bench/gpu_wheels.sh                  # -> .venv-gpu
#   VENV=/opt/kpn-gpu bash bench/gpu_wheels.sh
#
# Versions are the project's pins (pyproject.toml) with their CUDA 12 variants:
#   jax[cuda12]==0.10.2        jaxlib + jax-cuda12-plugin[with-cuda] (pulls the nvidia-* CUDA 12 wheels)
#   torch==2.13.0              PyPI's Linux x86_64 torch wheel is the CUDA build
#   tensorflow[and-cuda]==2.21.0
# Everything else comes from pyproject.toml (pip install -e '.[peers]').
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv-gpu}
PYTHON=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
PIP="$VENV/bin/pip"
"$PIP" install --upgrade pip
# The CUDA wheels first, then the project with its pins (pip keeps the CUDA builds:
# same versions).
"$PIP" install "jax[cuda12]==0.10.2" "jaxlib==0.10.2" "torch==2.13.0" "tensorflow[and-cuda]==2.21.0"
"$PIP" install -e '.[peers]'
"$VENV/bin/python" - <<'EOF'
import importlib.metadata as m
for p in ("jax", "jaxlib", "jax-cuda12-plugin", "torch", "tensorflow", "keras", "keras-hub"):
    try:
        print(p, m.version(p))
    except m.PackageNotFoundError:
        print(p, "MISSING")
EOF
echo "GPU environment ready in $VENV; run: bash bench/gpu_speed.sh"
