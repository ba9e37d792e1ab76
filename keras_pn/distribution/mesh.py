"""Mesh shapes from flags: `(data, model)` for model parallelism, `N` for data parallelism."""

from keras_pn.distribution.errors import DistributionError


def _integers(parts, shown, fix):
    """`parts` as a tuple of ints; else a `DistributionError` showing `shown`."""
    try:
        return tuple(int(s) for s in parts)
    except (TypeError, ValueError):
        raise DistributionError(
            f"mesh_shape={shown!r} is not a list of integers. Fix: {fix}"
        ) from None


def _split(text):
    return [s for s in text.split(",") if s.strip()]


def parse_mesh_shape(mesh_shape):
    """`"2,4"`, `[2, 4]` or `(2, 4)` -> `(2, 4)` (data, model).

    >>> parse_mesh_shape("2,4")
    (2, 4)
    """
    if isinstance(mesh_shape, str):
        mesh_shape = _split(mesh_shape.replace("x", ","))
    shape = _integers(
        mesh_shape, mesh_shape, "pass --mesh_shape=DATA,MODEL, e.g. --mesh_shape=2,4."
    )
    if len(shape) != 2 or min(shape) < 1:
        raise DistributionError(
            f"mesh_shape={shape} must be two positive sizes (data, model), e.g. "
            "--mesh_shape=2,4 for 8 devices."
        )
    return shape


def first_devices(mesh_shape, devices):
    """The devices of a data-parallel `mesh_shape` (`N`, `(N,)` or `(N, 1)`).

    >>> first_devices("2", ["cpu:0", "cpu:1", "cpu:2"])
    ['cpu:0', 'cpu:1']
    """
    if mesh_shape is None:
        return devices
    parts = mesh_shape
    if isinstance(parts, (str, int)):
        parts = _split(str(parts))
    shape = _integers(parts, mesh_shape, "--mesh_shape=N for N data-parallel replicas.")
    if not 1 <= len(shape) <= 2 or shape[1:] not in ((), (1,)) or shape[0] < 1:
        raise DistributionError(
            f"mesh_shape={shape} has a model axis, but data_parallel replicates "
            "the model. Fix: --mesh_shape=N (N data-parallel replicas), or "
            "--distribution=model_parallel to shard the weights."
        )
    if shape[0] > len(devices):
        raise DistributionError(
            f"mesh_shape={shape} asks for {shape[0]} devices; {len(devices)} are "
            f"available. Fix: --mesh_shape=N with N <= {len(devices)}."
        )
    return list(devices)[: shape[0]]
