"""Tests of keras_pn.data.kmeans (run under every KERAS_BACKEND).

Compilation dominates the run time of these tiny fits, so the tests share a few
(k, shape) combinations: 2,000 x 16 data (one 2,048-row chunk) with k = 8 or 24.
"""

import json

import numpy as np
import pytest
from sklearn.cluster import KMeans as SkKMeans

from keras_pn.data.kmeans import HierarchicalKMeans, KMeans, check_vectors, load_kmeans


def _blobs(n=2000, d=16, centers=8, spread=0.5, seed=0):
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=(centers, d)) * 4.0
    x = mu[rng.integers(centers, size=n)] + spread * rng.normal(size=(n, d))
    return x.astype("float32")


@pytest.fixture(scope="module")
def blobs():
    return _blobs()


@pytest.fixture(scope="module")
def mixed():
    # Overlapping blobs where k-means has many local optima.
    return _blobs(n=2000, d=16, centers=20, spread=1.5, seed=1)


def test_inertia_within_2pct_of_sklearn(blobs):
    ours = KMeans(8, n_iter=20, tol=0.0, seed=0, verbose=False).fit(blobs)
    ref = SkKMeans(8, n_init=1, max_iter=20, tol=0.0, random_state=0).fit(blobs)
    assert abs(ours.inertia_ / ref.inertia_ - 1.0) <= 0.02


def test_inertia_no_worse_than_sklearn_on_hard_data(mixed):
    ours = KMeans(24, n_iter=20, tol=0.0, seed=0, verbose=False).fit(mixed)
    ref = SkKMeans(24, n_init=1, max_iter=20, tol=0.0, random_state=0).fit(mixed)
    assert ours.inertia_ <= 1.02 * ref.inertia_


def test_lloyd_matches_sklearn_from_same_init(mixed):
    init = mixed[np.random.default_rng(3).choice(len(mixed), 24, replace=False)]
    ours = KMeans(24, n_iter=10, tol=0.0, init=init, verbose=False).fit(mixed)
    ref = SkKMeans(
        24, n_init=1, max_iter=10, tol=0.0, init=init, algorithm="lloyd"
    ).fit(mixed)
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-4)
    assert np.mean(ours.labels_ == ref.labels_) > 0.999


def test_same_seed_same_assignments(mixed):
    a = KMeans(24, n_iter=8, seed=7, verbose=False).fit(mixed)
    b = KMeans(24, n_iter=8, seed=7, verbose=False).fit(mixed)
    c = KMeans(24, n_iter=8, seed=8, verbose=False).fit(mixed)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.centroids_, b.centroids_)
    assert not np.array_equal(a.centroids_, c.centroids_)


def test_chunking_padding_and_streaming_do_not_change_results(blobs):
    kw = dict(n_iter=5, tol=0.0, seed=0, verbose=False)
    a = KMeans(8, chunk_size=4096, **kw).fit(blobs)
    b = KMeans(8, chunk_size=500, resident_bytes=0, **kw).fit(
        blobs
    )  # streamed + padded
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.centroids_, b.centroids_, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(a.assign(blobs, chunk_size=500), a.labels_)


def test_assign_is_nearest_centroid(blobs):
    km = KMeans(8, n_iter=3, verbose=False).fit(blobs)
    labels, d2 = km.assign(blobs[:300], return_distances=True)
    full = ((blobs[:300, None, :] - km.centroids_[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(labels, full.argmin(1))
    np.testing.assert_allclose(d2, full.min(1), rtol=1e-3, atol=1e-3)
    assert km.compute_inertia(blobs) == pytest.approx(km.inertia_, rel=1e-5)


def test_empty_clusters_are_repaired(blobs):
    init = blobs[:8].copy()
    init[5:] = 1e3  # three centroids far from every point: empty after the first E-step
    km = KMeans(8, n_iter=10, tol=0.0, init=init, verbose=False).fit(blobs)
    assert km.n_repaired_ >= 3
    assert km.history_[0]["empty_repaired"] == 3
    assert np.bincount(km.labels_, minlength=8).min() > 0


def test_minibatch_close_to_lloyd(blobs):
    lloyd = KMeans(8, n_iter=15, seed=0, verbose=False).fit(blobs)
    mb = KMeans(
        8, n_iter=3, seed=0, algorithm="minibatch", batch_size=256, verbose=False
    ).fit(blobs)
    assert mb.inertia_ <= 1.05 * lloyd.inertia_
    assert np.bincount(mb.labels_, minlength=8).min() > 0


def test_spherical_mode(blobs):
    x = blobs / np.linalg.norm(blobs, axis=1, keepdims=True)
    km = KMeans(8, n_iter=10, spherical=True, verbose=False).fit(x)
    np.testing.assert_allclose(np.linalg.norm(km.centroids_, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(km.labels_, (x @ km.centroids_.T).argmax(1))


def test_hierarchical(tmp_path):
    # 7 blobs plus a far pair of points: the pair becomes a top cluster with only two
    # members, hence two sub-clusters instead of three.
    x = np.concatenate(
        [_blobs(n=1998, d=16, centers=7), np.full((2, 16), 80.0, "float32")]
    )
    x[-1, 0] = 81.0
    hk = HierarchicalKMeans(8, 3, n_iter=8, seed=0, verbose=False).fit(x)
    assert hk.n_clusters == 24 and hk.centroids_.shape == (24, 16)
    assert hk.valid_.sum() == 7 * 3 + 2
    assert set(np.unique(hk.labels_)) <= set(np.flatnonzero(hk.valid_))
    np.testing.assert_array_equal(hk.labels_ // 3, hk.top_.labels_)
    np.testing.assert_array_equal(hk.assign(x), hk.labels_)
    assert hk.inertia_ < hk.top_.inertia_
    assert hk.compute_inertia(x) == pytest.approx(hk.inertia_, rel=1e-4)
    hk.save(tmp_path / "h")
    back = load_kmeans(tmp_path / "h")
    assert isinstance(back, HierarchicalKMeans)
    np.testing.assert_array_equal(back.valid_, hk.valid_)
    np.testing.assert_array_equal(back.assign(x), hk.labels_)


def test_rejects_nan_and_inf_naming_rows(blobs):
    x = blobs.copy()
    x[5, 0] = np.nan
    x[17, 3] = np.inf
    with pytest.raises(ValueError, match=r"rows \[5, 17\]"):
        KMeans(8, verbose=False).fit(x)
    km = KMeans(8, n_iter=2, verbose=False).fit(blobs)
    with pytest.raises(ValueError, match="NaN or inf"):
        km.assign(x)


def test_clear_errors(blobs):
    with pytest.raises(ValueError, match="larger than the number of vectors"):
        KMeans(50, verbose=False).fit(blobs[:10])
    with pytest.raises(ValueError, match="2-D"):
        KMeans(2, verbose=False).fit(blobs[0])
    with pytest.raises(ValueError, match="not fitted"):
        KMeans(2).assign(blobs)
    km = KMeans(8, n_iter=2, verbose=False).fit(blobs)
    with pytest.raises(
        ValueError, match="dimension 8 but the centroids have dimension 16"
    ):
        km.assign(blobs[:, :8])
    with pytest.raises(ValueError, match="n_clusters must be"):
        KMeans(0)
    assert check_vectors(np.zeros((2, 3), "int32")).shape == (2, 3)


def test_memmap_input_and_subsampled_fit(blobs, tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, blobs)
    mm = np.load(path, mmap_mode="r")
    a = KMeans(8, n_iter=5, verbose=False, resident_bytes=0, chunk_size=500).fit(mm)
    b = KMeans(8, n_iter=5, verbose=False).fit(blobs)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    # faiss-style subsample: fit on 8 * 100 points, labels for all 2,000.
    c = KMeans(8, n_iter=5, verbose=False, max_points_per_centroid=100).fit(mm)
    assert c.labels_.shape == (2000,) and c.inertia_ <= 1.05 * b.inertia_


def test_save_load_roundtrip(blobs, tmp_path):
    km = KMeans(8, n_iter=5, seed=3, spherical=False, verbose=False).fit(blobs)
    km.save(tmp_path / "km")
    meta = json.loads((tmp_path / "km" / "kmeans.json").read_text())
    assert meta["n_clusters"] == 8 and meta["dim"] == 16
    back = KMeans.load(tmp_path / "km")
    np.testing.assert_array_equal(back.centroids_, km.centroids_)
    np.testing.assert_array_equal(back.assign(blobs), km.labels_)
    np.save(
        tmp_path / "km" / "centroids.npy", km.centroids_ + 1
    )  # corrupt the centroids
    with pytest.raises(ValueError, match="checksum"):
        load_kmeans(tmp_path / "km")
    with pytest.raises(FileNotFoundError):
        load_kmeans(tmp_path / "nothing")
