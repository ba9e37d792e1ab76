"""keras_pn: small specialized language models for Keras 3.

Projected networks (SLM-pn), importance-sampled pretraining (SLM-is) and the
baselines of Grangier et al., "Need a Small Specialized Language Model?
Plan Early!" (2024), on every Keras backend.
"""

from keras_pn import layers
from keras_pn import models

__version__ = "0.1.0"

__all__ = ["layers", "models", "__version__"]
