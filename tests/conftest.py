"""Shared pytest set-up: backend markers and a deterministic seed per test."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import pytest  # noqa: E402

_BACKEND_MARKERS = {"jax_only": "jax", "tensorflow_only": "tensorflow", "torch_only": "torch"}


def pytest_collection_modifyitems(config, items):
    backend = keras.config.backend()
    for item in items:
        for marker, wanted in _BACKEND_MARKERS.items():
            if item.get_closest_marker(marker) and backend != wanted:
                item.add_marker(pytest.mark.skip(reason=f"{marker}: backend is {backend}"))


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)
    yield
