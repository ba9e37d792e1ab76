"""keras_pn: small specialized language models for Keras 3.

Projected networks (SLM-pn), importance-sampled pretraining (SLM-is) and the
baselines of Grangier et al., "Need a Small Specialized Language Model?
Plan Early!" (2024), on every Keras backend.

Submodules load on first use, so `keras_pn.data.corpora` (no Keras needed)
imports in milliseconds; `keras_pn.models` registers the model classes with
Keras for serialization when it is first touched.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = ("data", "evaluation", "layers", "models", "presets", "training")

__all__ = list(_SUBMODULES) + ["__version__"]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"keras_pn.{name}")
    raise AttributeError(f"module 'keras_pn' has no attribute {name!r}")
