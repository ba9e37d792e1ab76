"""Main of every keras_pn py_test (see .ci/bazel/defs.bzl): run pytest on the test files.

Usage (done by Bazel): pytest_runner.py TEST_FILE... [-- PYTEST_ARGS...]

Runs from the workspace directory in the runfiles, so that pytest finds pyproject.toml
(rootdir, markers, --strict-markers) and tests/conftest.py just as `pytest tests` does.
The Keras backend comes from the target's KERAS_BACKEND. Environment knobs (set them
with --test_env, or through the .bazelrc configs):

  KERAS_PN_QUICK=1          add -m "not slow" (`--config=quick`)
  KERAS_PN_PYTEST_ARGS=...  more pytest arguments (split like a shell would)

Arguments after the test files (e.g. --test_arg=-k --test_arg=name) go to pytest too.
pytest's exit status 5 (every test deselected, e.g. by -m "not slow") counts as a pass.
"""

import os
import shlex
import sys


def _workspace_dir():
    srcdir = os.environ.get("TEST_SRCDIR") or os.environ.get("RUNFILES_DIR")
    workspace = os.environ.get("TEST_WORKSPACE")
    if srcdir and workspace and os.path.isdir(os.path.join(srcdir, workspace)):
        return os.path.join(srcdir, workspace)
    # `bazel run` or a direct call: two levels above .ci/bazel/ (no symlink resolution,
    # so that runfiles stay runfiles).
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv):
    workspace = _workspace_dir()
    os.chdir(workspace)
    if workspace not in sys.path:
        sys.path.insert(0, workspace)
    # This file's own directory is sys.path[0]; nothing there should shadow a module.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p) != here]

    args = ["-p", "no:cacheprovider", "--durations=10"]
    tmp = os.environ.get("TEST_TMPDIR")
    if tmp and not os.environ.get("HOME"):
        # Bazel's test-setup.sh leaves HOME unset: caches (~/.keras, ~/.cache/...) go
        # to the test's own temporary directory, not the user's.
        os.environ["HOME"] = os.path.join(tmp, "home")
        os.makedirs(os.environ["HOME"], exist_ok=True)
    if tmp:
        args.append("--basetemp=" + os.path.join(tmp, "pytest"))
    xml = os.environ.get("XML_OUTPUT_FILE")
    if xml:
        args.append("--junitxml=" + xml)
    if os.environ.get("KERAS_PN_QUICK", "") not in ("", "0"):
        args += ["-m", "not slow"]
    args += shlex.split(os.environ.get("KERAS_PN_PYTEST_ARGS", ""))
    args += [a for a in argv if a != "--"]

    print(
        f"[keras_pn bazel] KERAS_BACKEND={os.environ.get('KERAS_BACKEND')} "
        f"python={sys.executable} HOME={os.environ.get('HOME')}\n"
        f"[keras_pn bazel] cwd={workspace}\n[keras_pn bazel] pytest {' '.join(args)}",
        flush=True,
    )
    import pytest

    status = int(pytest.main(args))
    return 0 if status == int(pytest.ExitCode.NO_TESTS_COLLECTED) else status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
