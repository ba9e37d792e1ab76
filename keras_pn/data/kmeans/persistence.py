"""Saving and loading a fitted k-means: centroids as ``.npy``, metadata as JSON.

Files are written atomically (`keras_pn.file_io`); the metadata holds a sha256 of
every array, checked on load.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from keras_pn.file_io import atomic_save_npy, atomic_write_json

_FORMAT_VERSION = 1
_CENTROIDS_FILE = "centroids.npy"
_TOP_CENTROIDS_FILE = "top_centroids.npy"
_METADATA_FILE = "kmeans.json"


def _jsonable(v) -> bool:
    try:
        json.dumps(v)
        return True
    except TypeError:
        return False


def _sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _save(path, meta: dict, arrays: dict) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    meta = dict(meta)
    meta["sha256"] = {}
    for name, a in arrays.items():
        a = np.ascontiguousarray(a, dtype="float32")
        meta["sha256"][name] = _sha256(a)
        atomic_save_npy(path / name, a)
    atomic_write_json(path / _METADATA_FILE, meta, indent=2)
    return path


def _load_array(path: Path, name: str, meta: dict) -> np.ndarray:
    a = np.load(path / name)
    want = meta.get("sha256", {}).get(name)
    if want and _sha256(np.ascontiguousarray(a, dtype="float32")) != want:
        raise ValueError(
            f"{path / name} does not match the checksum in {path / _METADATA_FILE} (an "
            "interrupted or mixed save?). Save the clustering again."
        )
    return a.astype("float32")


def load_kmeans(path):
    """Load a `KMeans` or `HierarchicalKMeans` saved with ``.save(path)``.

    Example:

    >>> import numpy as np, tempfile
    >>> from keras_pn.data.kmeans import KMeans
    >>> km = KMeans(2, n_iter=3, verbose=False).fit(np.eye(4, dtype="float32"))
    >>> d = tempfile.mkdtemp()
    >>> _ = km.save(d)
    >>> np.array_equal(load_kmeans(d).centroids_, km.centroids_)
    True
    """
    path = Path(path)
    meta_file = path / _METADATA_FILE
    if not meta_file.exists():
        raise FileNotFoundError(
            f"No k-means metadata at {meta_file}; pass the directory given to .save()."
        )
    meta = json.loads(meta_file.read_text())
    if meta.get("format_version") != _FORMAT_VERSION:
        raise ValueError(
            f"{meta_file} has format_version {meta.get('format_version')}; "
            "this keras_pn "
            f"reads version {_FORMAT_VERSION}."
        )
    from keras_pn.data.kmeans.hierarchical_kmeans import HierarchicalKMeans

    if meta["class"] == "KMeans":
        km = _kmeans_from_meta(meta)
        km.centroids_ = _load_array(path, _CENTROIDS_FILE, meta)
        return km
    if meta["class"] == "HierarchicalKMeans":
        hk = HierarchicalKMeans(
            meta["n_top"],
            meta["n_sub"],
            seed=meta["seed"],
            verbose=False,
            **meta["kmeans_kwargs"],
        )
        hk.top_ = _kmeans_from_meta(meta["top"])
        hk.top_.centroids_ = _load_array(path, _TOP_CENTROIDS_FILE, meta)
        hk.centroids_ = _load_array(path, _CENTROIDS_FILE, meta)
        hk.valid_ = np.asarray(meta["valid"], dtype=bool)
        hk.inertia_ = meta["inertia"]
        return hk
    raise ValueError(f"{meta_file}: unknown class {meta['class']!r}.")


def _kmeans_from_meta(meta: dict):
    from keras_pn.data.kmeans.flat_kmeans import KMeans

    p = dict(meta["params"])
    if p.get("init") == "array":
        p["init"] = "k-means++"
    km = KMeans(meta["n_clusters"], spherical=meta["spherical"], verbose=False, **p)
    km.inertia_ = meta.get("inertia")
    km.n_iter_ = meta.get("n_iter_run", 0)
    km.n_repaired_ = meta.get("n_repaired", 0)
    km.fit_seconds_ = meta.get("fit_seconds")
    return km
