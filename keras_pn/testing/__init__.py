"""Test helpers: tiny configurations, numeric checks and the test case of the suite."""

from keras_pn.testing.tiny import TINY_GPT
from keras_pn.testing.tiny import TINY_PN
from keras_pn.testing.tiny import random_batch
from keras_pn.testing.tiny import to_numpy

__all__ = ["TINY_GPT", "TINY_PN", "TestCase", "random_batch", "to_numpy"]


def __getattr__(name):
    # Imported on first use: keras-hub's test case imports TensorFlow and absl.
    if name == "TestCase":
        from keras_pn.testing.test_case import TestCase

        return TestCase
    raise AttributeError(f"module 'keras_pn.testing' has no attribute {name!r}")
