"""Test helpers: tiny configurations and numeric checks shared by the test suite."""

from keras_pn.testing.tiny import TINY_GPT
from keras_pn.testing.tiny import TINY_PN
from keras_pn.testing.tiny import random_batch
from keras_pn.testing.tiny import to_numpy

__all__ = ["TINY_GPT", "TINY_PN", "random_batch", "to_numpy"]
