"""keras_pn: small specialized language models for Keras 3.

Projected networks (SLM-pn), importance-sampled pretraining (SLM-is) and the
baselines of Grangier et al., "Need a Small Specialized Language Model?
Plan Early!" (2024), on every Keras backend.

Submodules load on first use, so `keras_pn.data.corpora` (no Keras needed)
imports in milliseconds; `keras_pn.models` registers the model classes with
Keras for serialization when it is first touched.
"""

import importlib
import os

__version__ = "0.1.0"

_SUBMODULES = ("data", "evaluation", "export", "layers", "models", "presets", "training")

__all__ = list(_SUBMODULES) + ["__version__"]

# Keras itself fails on a misspelled backend with "Unable to import backend : jaxx",
# after importing half of itself; say what is wrong and how to fix it first.
_KERAS_BACKENDS = ("jax", "tensorflow", "torch", "numpy", "openvino")
_backend = os.environ.get("KERAS_BACKEND")
if _backend and _backend not in _KERAS_BACKENDS:
    raise ValueError(
        f"KERAS_BACKEND={_backend!r} is not a Keras backend. Fix: set KERAS_BACKEND "
        "to 'jax', 'tensorflow' or 'torch' (keras_pn supports these three), e.g. "
        "`export KERAS_BACKEND=jax`, or unset it to use ~/.keras/keras.json."
    )

# TensorFlow 2.21's oneDNN CPU kernels returned wrong ProjectedGPT losses (16.6
# instead of ~5.0 at a random step) once other models had run in the process;
# turn them off unless the user chose (set it before TensorFlow is imported).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"keras_pn.{name}")
    raise AttributeError(f"module 'keras_pn' has no attribute {name!r}")
