"""absl recipes: each `main` parses flags and calls one keras_pn library function.

Importing the package quiets the backends' start-up probes on machines without an
accelerator (`recipes.cli.quiet_backends`; `KERAS_PN_BACKEND_LOGS=1` shows them).
"""

from recipes.cli import quiet_backends as _quiet_backends

_quiet_backends()
