"""What a recipe's terminal shows: keras_pn's own logs and errors, not backend noise.

Two things every recipe gets from `recipes` (its package `__init__` calls
`quiet_backends()` before any recipe imports a backend, and each recipe ends with
`cli.run(main)` instead of `absl.app.run(main)`):

- On a machine without an accelerator, the backends' start-up probes stay quiet:
  TensorFlow's CUDA stub and `cuInit` messages, XLA's TPU probe, absl's C++
  "log messages before absl::InitializeLog()" banner. Set `KERAS_PN_BACKEND_LOGS=1`
  to see them (or where a GPU or TPU is present, where they may matter).
- An error keras_pn raises on purpose (bad input it explains, with the fix) reaches
  the terminal as that message and exit status 2, not as a traceback. Pass
  `--traceback` (or set `KERAS_PN_TRACEBACK=1`) for the full traceback; errors that
  are bugs (TypeError, AttributeError, ... or raised outside keras_pn) always keep it.

>>> user_error_message(ValueError("x"))  # not raised by keras_pn code
>>> try:
...     from keras_pn import methods
...     methods.get("nope")
... except ValueError as e:
...     print(user_error_message(e)[:25])
Unknown method 'nope'. Kn
"""

from __future__ import annotations

import contextlib
import glob
import os
import sys
import traceback
from pathlib import Path
from typing import Callable, Iterator

_PACKAGE_DIRS = tuple(
    str(Path(__file__).resolve().parents[1] / name) + os.sep for name in ("keras_pn", "recipes")
)
# Exceptions keras_pn raises for bad input (its own error classes derive from these);
# the others (TypeError, AttributeError, AssertionError, ...) are bugs.
_USER_ERRORS = (ValueError, OSError, RuntimeError, LookupError)
_BUG_ERRORS = (NotImplementedError, RecursionError, UnicodeError)
_ACCELERATOR_DEVICES = ("/dev/nvidia[0-9]*", "/dev/accel[0-9]*", "/dev/kfd", "/dev/vfio/[0-9]*")


def accelerator_present() -> bool:
    """True where a GPU or TPU device node exists (NVIDIA, AMD, Cloud TPU)."""
    return any(glob.glob(pattern) for pattern in _ACCELERATOR_DEVICES)


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Sends what native code writes to file descriptor 2 to /dev/null meanwhile."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def quiet_backends() -> None:
    """Quiets the backends' start-up probes where no accelerator exists (see module doc)."""
    if _truthy("KERAS_PN_BACKEND_LOGS") or accelerator_present():
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # as keras_pn/__init__.py does
    # TensorFlow's CUDA stub and absl's pre-init banner are written by C++ at import
    # time, below any log level: import the input pipeline's framework and the Keras
    # backend now, with the native stderr silenced (Python errors still surface).
    with native_stderr_silenced():
        try:
            import tensorflow  # noqa: F401
            import keras  # noqa: F401
        except ImportError:
            pass


def user_error_message(error: BaseException) -> str | None:
    """The message of an error keras_pn raised on purpose; None for a bug."""
    if not isinstance(error, _USER_ERRORS) or isinstance(error, _BUG_ERRORS):
        return None
    frames = traceback.extract_tb(error.__traceback__)
    if not frames or not frames[-1].filename.startswith(_PACKAGE_DIRS):
        return None
    message = str(error).strip()
    if isinstance(error, KeyError) and message.startswith(("'", '"')):
        message = message[1:-1]
    return message or None


def run(main: Callable[[list[str]], object]) -> None:
    """`absl.app.run(main)`, with keras_pn's own errors shown as one message (exit 2)."""
    from absl import app
    from absl import flags

    if "traceback" not in flags.FLAGS:
        flags.DEFINE_boolean(
            "traceback",
            False,
            "Show the full Python traceback of an error keras_pn explains "
            "(also KERAS_PN_TRACEBACK=1).",
        )

    def guarded(argv):
        try:
            return main(argv)
        except Exception as error:  # noqa: BLE001 (re-raised unless it is a user error)
            message = user_error_message(error)
            if message is None or flags.FLAGS.traceback or _truthy("KERAS_PN_TRACEBACK"):
                raise
            program = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] else "recipe"
            print(f"{program}: error: {message}", file=sys.stderr)
            print("(run again with --traceback for the full traceback)", file=sys.stderr)
            sys.exit(2)

    app.run(guarded)
