"""Where a cost was measured: the accelerator (or CPU) and backend, in words.

The only backend-specific code of the cost accounting.

Example:
>>> isinstance(cpu_name(), str)
True
"""

from __future__ import annotations

import os
import platform

__all__ = ["cpu_name", "device_description"]


def device_description() -> str:
    """The accelerator (or CPU) Keras runs on, with the backend, in words.

    Example:
    >>> device_description()  # doctest: +SKIP
    'CPU: AMD EPYC 7B13, 2 cores (jax)'
    """
    import keras

    backend = keras.config.backend()
    accelerator = None
    try:
        if backend == "jax":
            import jax

            devices = jax.devices()
            if devices and devices[0].platform != "cpu":
                accelerator = f"{len(devices)}x {devices[0].device_kind}"
        elif backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                details = tf.config.experimental.get_device_details(gpus[0])
                accelerator = f"{len(gpus)}x {details.get('device_name', 'GPU')}"
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                count = torch.cuda.device_count()
                accelerator = f"{count}x {torch.cuda.get_device_name(0)}"
    except Exception:  # noqa: BLE001 -- a description must never fail a run
        accelerator = None
    if accelerator is None:
        accelerator = f"CPU: {cpu_name()}, {_cpu_count()} cores"
    return f"{accelerator} ({backend})"


def cpu_name() -> str:
    """The CPU's model name (`/proc/cpuinfo`, else what `platform` knows)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
