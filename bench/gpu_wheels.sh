#!/usr/bin/env bash
# Install keras_pn's wheels on an air-gapped accelerator machine, from the folder that
# bench/gather_wheels.sh filled on a connected machine (no index, no network).
#
#   bash bench/gpu_wheels.sh                     # bench/wheels312 -> .gpu_site
#   WHEELS=/path/to/wheels SITE=/opt/kpn bash bench/gpu_wheels.sh
#   eval "$(bash bench/gpu_wheels.sh --print-env)"   # PYTHONPATH for that site
#
# The machine's own Python ($PYTHON, default python3) keeps its jax and torch (CUDA
# builds); the wheels go to a separate folder ($SITE, git-ignored), put first on
# PYTHONPATH with the checkout, so that nothing of the machine's environment changes
# (PIP_CONFIG_FILE=/dev/null: no index, link or constraint from a pip.conf either).
# Installs nothing when the site already holds exactly these wheels. Prints what the
# backends see. The device tool carries the git-ignored folder when asked:
# `carry: ["bench/wheels312"]`.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=${WHEELS:-bench/wheels312}
SITE=${SITE:-$PWD/.gpu_site}
PYTHON=${PYTHON:-python3}
if [ "${1:-}" = "--print-env" ]; then
  echo "export PYTHONPATH=$SITE:$PWD\${PYTHONPATH:+:\$PYTHONPATH}"
  exit 0
fi
if [ ! -f "$WHEELS/requirements.txt" ]; then
  echo "gpu_wheels: error: no $WHEELS/requirements.txt. Fix: run bench/gather_wheels.sh on a" \
       "machine that reaches PyPI, then bring $WHEELS here (device tool: carry it)." >&2
  exit 2
fi
stamp="$SITE/.installed-from"
wanted=$(cd "$WHEELS" && ls -1 ./*.whl | sort | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  rm -rf "$SITE.partial"
  PIP_CONFIG_FILE=/dev/null "$PYTHON" -m pip install --quiet --no-index --no-deps --disable-pip-version-check \
    --no-warn-script-location --find-links "$WHEELS" --target "$SITE.partial" \
    -r "$WHEELS/requirements.txt"
  echo "$wanted" > "$SITE.partial/.installed-from"
  rm -rf "$SITE"
  mv "$SITE.partial" "$SITE"
fi
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
"$PYTHON" - <<'EOF'
import importlib.metadata as m
import sys

print("python", sys.version.split()[0])
for p in ("jax", "jaxlib", "torch", "tensorflow", "keras", "keras-hub", "grain"):
    try:
        print(p, m.version(p))
    except m.PackageNotFoundError:
        print(p, "not installed")
EOF
