"""Input checks of the k-means: a 2-D, numeric, finite array of vectors."""

from __future__ import annotations

import numpy as np
from keras import ops


def check_vectors(
    x, *, name: str = "vectors", dim: int | None = None, chunk_rows: int = 65536
):
    """Validate a 2-D array of vectors; return it as a numpy array (memmaps kept).

    Checks that ``x`` is 2-D and numeric, that its width equals ``dim`` when given,
    and that every value is finite (scanned in chunks, so a large ``np.memmap`` is
    not loaded at once). The error names the offending rows.

    Args:
        x: array-like ``(n, d)``; a ``np.memmap`` is not copied.
        name: what to call the array in error messages.
        dim: expected width, or None.
        chunk_rows: rows scanned at a time for the finiteness check.

    Returns:
        ``x`` as a numpy array (or the memmap itself).

    Raises:
        ValueError: wrong rank, wrong width, non-numeric dtype or NaN/inf values.

    Example:

    >>> import numpy as np
    >>> check_vectors(np.zeros((3, 2), "float32")).shape
    (3, 2)
    """
    if not isinstance(x, np.ndarray):
        if hasattr(x, "numpy") and not isinstance(x, (list, tuple)):
            x = np.asarray(ops.convert_to_numpy(x))
        else:
            x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_vectors, dim); "
            f"got shape {x.shape}. "
            "Reshape it, e.g. `x.reshape(len(x), -1)`, or stack the vectors."
        )
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"{name} must be numeric; got dtype {x.dtype}.")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(
            f"{name} have dimension {x.shape[1]} but the centroids have dimension "
            f"{dim}. "
            "Embed them with the same embedder used to fit the clustering."
        )
    if np.issubdtype(x.dtype, np.floating):
        bad = []
        for start in range(0, x.shape[0], chunk_rows):
            block = np.asarray(x[start : start + chunk_rows])
            ok = np.isfinite(block).all(axis=1)
            if not ok.all():
                bad.extend((np.flatnonzero(~ok) + start).tolist())
                if len(bad) >= 10:
                    break
        if bad:
            shown = ", ".join(str(i) for i in bad[:10])
            raise ValueError(
                f"{name} contain NaN or inf values in rows [{shown}"
                f"{', ...' if len(bad) >= 10 else ''}]. Drop or fix these rows before "
                "clustering, e.g. `x = x[np.isfinite(x).all(axis=1)]`."
            )
    return x
