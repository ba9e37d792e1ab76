#!/usr/bin/env bash
# The wheels keras_pn needs on an air-gapped accelerator machine, gathered where PyPI is
# reachable.
#
#   bash bench/gather_wheels.sh                 # -> bench/wheels312/ (git-ignored)
#   bash bench/gather_wheels.sh --overwrite     # replace an existing folder
#   WHEELS=/tmp/w PY_VERSION=3.12 bash bench/gather_wheels.sh
#
# The machine is assumed to hold Python $PY_VERSION with jax and torch (CUDA builds, with
# numpy, ml-dtypes, scipy, typing-extensions, ...) but no keras, keras-hub, TensorFlow or
# network. This downloads exactly the rest, pinned, for that Python (--no-deps: the set
# below is complete; keras-hub's own tensorflow-text and kagglehub, and tokenizers'
# huggingface-hub, are not needed by keras_pn). grain is keras-hub's TensorFlow-free data
# loader: keras-hub's `fit` needs it (or tf.data) to feed batches without TensorFlow.
# The folder's size must stay under 64 MiB (what the device tool carries with the
# checkout: `carry: ["bench/wheels312"]`). bench/gpu_speed.sh installs from it with
# `pip install --no-index`. Versions: .ci/requirements.lock where the package is there.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${WHEELS:-bench/wheels312}
PY_VERSION=${PY_VERSION:-3.12}
LIMIT_MIB=64
PIP=${PIP:-}
if [ -z "$PIP" ]; then
  if [ -x .venv/bin/pip ]; then PIP=.venv/bin/pip; else PIP="python3 -m pip"; fi
fi
OVERWRITE=0
for arg in "$@"; do
  case "$arg" in
    --overwrite) OVERWRITE=1 ;;
    *) echo "gather_wheels: error: unknown argument $arg (only --overwrite)" >&2; exit 2 ;;
  esac
done
if [ -e "$DEST" ] && [ "$OVERWRITE" != 1 ]; then
  echo "gather_wheels: error: $DEST exists. Fix: pass --overwrite to replace it, or set WHEELS=<another folder>." >&2
  exit 2
fi

# keras and keras-hub with what they import; keras_pn's own needs; grain for TF-free fit.
PINS=(
  keras==3.15.1 keras-hub==0.32.0
  absl-py==2.5.1 rich==15.0.0 markdown-it-py==4.3.0 mdurl==0.1.2 Pygments==2.21.0
  namex==0.1.0 h5py==3.14.0 optree==0.20.0 packaging==26.4 regex==2026.11.19
  sentencepiece==0.2.1 tokenizers==0.23.3 safetensors==0.8.0 protobuf==6.33.6
  PyYAML==6.0.3 tqdm==4.70.1
  grain==0.2.18 array-record==0.8.6 etils==1.15.0 cloudpickle==3.1.3 fsspec==2026.9.0
  portpicker==1.6.0 psutil==7.2.2 zipp==4.1.2
)

STAGE="$DEST.partial.$$"
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE"
printf '%s\n' "${PINS[@]}" > "$STAGE/requirements.txt"
$PIP download --quiet --no-deps --only-binary=:all: --python-version "$PY_VERSION" \
  ${PLATFORM:+--platform "$PLATFORM"} --dest "$STAGE" -r "$STAGE/requirements.txt"

count=$(find "$STAGE" -name '*.whl' | wc -l)
if [ "$count" -ne "${#PINS[@]}" ]; then
  echo "gather_wheels: error: got $count wheels for ${#PINS[@]} pins in $STAGE/requirements.txt." >&2
  exit 1
fi
bytes=$(du -sb "$STAGE" | cut -f1)
mib=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')
if [ "$bytes" -gt $((LIMIT_MIB * 1048576)) ]; then
  echo "gather_wheels: error: $mib MiB is over the $LIMIT_MIB MiB limit. Fix: drop a package from PINS." >&2
  exit 1
fi
rm -rf "$DEST"
mv "$STAGE" "$DEST"
trap - EXIT
echo "$count wheels for Python $PY_VERSION, $mib MiB ($bytes bytes) in $DEST"
echo "install there: pip install --no-index --no-deps --find-links $DEST -r $DEST/requirements.txt"
