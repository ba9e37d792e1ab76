#!/usr/bin/env bash
# The Python of every Bazel py_test/py_binary here (the py_runtime in .ci/bazel/BUILD):
# <workspace root>/.venv/bin/python, where the root is found from this file's real
# location (Bazel runs it through runfiles/sandbox symlinks). KERAS_PN_PYTHON overrides it.
set -euo pipefail
if [ -n "${KERAS_PN_PYTHON:-}" ]; then
  exec "$KERAS_PN_PYTHON" "$@"
fi
self="$(readlink -f "${BASH_SOURCE[0]}")"
root="$(cd "$(dirname "$self")/../.." && pwd)"
python="$root/.venv/bin/python"
if [ ! -x "$python" ]; then
  echo "keras_pn bazel: $python not found; run  bash .ci/setup  first" >&2
  exit 1
fi
exec "$python" "$@"
