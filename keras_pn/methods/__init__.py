"""The paper's methods, one module each, the registry everyone iterates, and `RunConfig`.

>>> from keras_pn import methods
>>> methods.ids()[:3]
('slm', 'slm_nopt', 'llm')
"""

from keras_pn.methods.base import Method
from keras_pn.methods.common import pretrain
from keras_pn.methods.common import specialize
from keras_pn.methods.registry import all_methods
from keras_pn.methods.registry import display_name
from keras_pn.methods.registry import generic_pretrainings
from keras_pn.methods.registry import get
from keras_pn.methods.registry import ids
from keras_pn.methods.registry import register
from keras_pn.methods.registry import report_order
from keras_pn.methods.run_config import RunConfig

__all__ = [
    "Method",
    "RunConfig",
    "all_methods",
    "display_name",
    "generic_pretrainings",
    "get",
    "ids",
    "pretrain",
    "register",
    "report_order",
    "specialize",
]
