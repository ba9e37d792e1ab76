"""External programs the builders call, with the command that installs each one."""

import shutil
import subprocess

from keras_pn.data.corpora import errors

# program -> (install command, what it is used for)
TOOLS = {
    "apt-get": (
        "a Debian or Ubuntu system (apt is not available here)",
        "fetching Debian packages",
    ),
    "npm": ("apt-get install -y npm", "fetching npm packages"),
    "mandoc": ("apt-get install -y mandoc", "rendering man pages (troff) to text"),
    "mod2imp": ("apt-get install -y libsword-utils", "exporting SWORD Bible modules"),
    "pod2text": ("apt-get install -y perl", "rendering Perl pod documentation"),
    "/usr/lib/apt/apt-helper": (
        "apt-get install -y apt",
        "reading the apt Translation-en index",
    ),
}


def require(tool):
    """Returns the path of `tool`, or raises `MissingToolError` naming its install command.

    Args:
        tool: A program name from `TOOLS` (or any program on PATH).
    """
    path = shutil.which(tool)
    if path is None:
        install, needed_for = TOOLS.get(
            tool, (f"apt-get install -y {tool}", "the corpus build")
        )
        raise errors.MissingToolError(tool, install, needed_for)
    return path


def run(args, *, input_bytes=None, cwd=None, env=None, what=None):
    """Runs a program and returns its stdout bytes; a failure raises `CorpusError`.

    Args:
        args: The command line; `args[0]` is checked with `require` first.
        input_bytes: Optional bytes for stdin.
        cwd: Working directory.
        env: Environment (default: inherited).
        what: A short description used in the error message.
    """
    args = [require(args[0]), *args[1:]]
    proc = subprocess.run(
        args, input=input_bytes, cwd=cwd, env=env, capture_output=True, check=False
    )
    if proc.returncode != 0:
        stderr = proc.stderr.decode("utf-8", "replace").strip()[-2000:]
        raise errors.CorpusError(
            f"{what or 'command'} failed (exit {proc.returncode}): {' '.join(map(str, args))}\n"
            f"{stderr}"
        )
    return proc.stdout
