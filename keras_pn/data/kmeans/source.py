"""The k-means' host data: fixed-shape chunks, resident on the device when small."""

from __future__ import annotations

import numpy as np

from keras_pn.data.kmeans.kernels import _bucket, _tensor


class _Source:
    """Serves ``(start, stop, x_chunk, w_chunk)`` tensors of one fixed shape.

    The last chunk is zero-padded on the host and its padding rows get weight 0, so
    every chunk has the same shape (one compilation). Chunk sizes are rounded to a
    power of two for small inputs so that many small fits (hierarchical k-means)
    share compiled kernels. Gathers and padding happen in numpy, so the driver loop
    issues no eager device ops besides the compiled kernels.
    """

    def __init__(self, x: np.ndarray, chunk_size: int, resident_bytes: int):
        self.x = x
        self.n, self.d = x.shape
        self.chunk = max(1, min(int(chunk_size), _bucket(self.n)))
        self.bounds = [
            (a, min(a + self.chunk, self.n)) for a in range(0, self.n, self.chunk)
        ]
        self._w_full = _tensor(np.ones(self.chunk))
        tail = self.bounds[-1][1] - self.bounds[-1][0] if self.bounds else self.chunk
        self._w_tail = _tensor(np.arange(self.chunk) < tail)
        self._resident = None
        if self.n * self.d * 4 <= resident_bytes:
            self._resident = [self._load(a, b) for a, b in self.bounds]
        self.streamed = self._resident is None

    def __len__(self):
        return len(self.bounds)

    def _load(self, start, stop):
        block = np.asarray(self.x[start:stop], dtype="float32")  # (m, d)
        if stop - start < self.chunk:
            block = np.pad(block, [(0, self.chunk - (stop - start)), (0, 0)])
        return _tensor(block)

    def chunks(self):
        for i, (start, stop) in enumerate(self.bounds):
            xc = (
                self._resident[i]
                if self._resident is not None
                else self._load(start, stop)
            )
            w = self._w_full if stop - start == self.chunk else self._w_tail
            yield start, stop, xc, w

    def rows_numpy(self, idx: np.ndarray) -> np.ndarray:
        """Rows ``idx`` (any order) as float32 numpy ``(len(idx), d)``."""
        order = np.argsort(idx, kind="stable")
        out = np.empty((len(idx), self.d), dtype="float32")
        out[order] = np.asarray(self.x[np.asarray(idx)[order]], dtype="float32")
        return out

    def rows(self, idx: np.ndarray, pad_to: int | None = None):
        """Rows ``idx`` as a tensor ``(pad_to or len(idx), d)`` (zero rows appended)."""
        block = self.rows_numpy(idx)
        if pad_to is not None and pad_to > len(idx):
            block = np.pad(block, [(0, pad_to - len(idx)), (0, 0)])
        return _tensor(block)

    def data_variance(self) -> float:
        """Mean per-dimension variance (scikit-learn's scale for ``tol``)."""
        s = np.zeros(self.d)
        s2 = np.zeros(self.d)
        for start in range(0, self.n, 65536):
            block = np.asarray(self.x[start : start + 65536], dtype="float64")
            s += block.sum(0)
            s2 += (block * block).sum(0)
        mean = s / self.n
        return float(np.mean(np.maximum(s2 / self.n - mean * mean, 0.0)))
