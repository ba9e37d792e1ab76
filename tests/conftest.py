"""Shared pytest set-up: backend markers and a deterministic seed per test."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # as keras_pn/__init__.py does

import keras  # noqa: E402
import pytest  # noqa: E402

_BACKEND_MARKERS = {"jax_only": "jax", "tensorflow_only": "tensorflow", "torch_only": "torch"}


def pytest_collection_modifyitems(config, items):
    backend = keras.config.backend()
    # Tests of code that never touches Keras (corpora, tokenizer training, tf.data
    # windows and shards, Beam, cost formulas) are marked `backend_agnostic`; a
    # multi-backend CI run (.ci/run) runs them under one backend only, named by
    # KERAS_PN_AGNOSTIC_BACKEND. Unset, every test runs.
    agnostic_backend = os.environ.get("KERAS_PN_AGNOSTIC_BACKEND")
    for item in items:
        if (
            agnostic_backend
            and agnostic_backend != backend
            and item.get_closest_marker("backend_agnostic")
        ):
            item.add_marker(
                pytest.mark.skip(
                    reason=f"backend_agnostic: runs under {agnostic_backend} in this run"
                )
            )
        for marker, wanted in _BACKEND_MARKERS.items():
            if item.get_closest_marker(marker) and backend != wanted:
                item.add_marker(pytest.mark.skip(reason=f"{marker}: backend is {backend}"))


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)
    yield
