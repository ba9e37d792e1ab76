"""The paper's methods, one module each, and the registry everyone iterates.

>>> from keras_pn import methods
>>> methods.ids()[:3]
('slm', 'slm_nopt', 'llm')
"""

from keras_pn.methods.base import Method
from keras_pn.methods.registry import all_methods
from keras_pn.methods.registry import display_name
from keras_pn.methods.registry import generic_pretrainings
from keras_pn.methods.registry import get
from keras_pn.methods.registry import ids
from keras_pn.methods.registry import register
from keras_pn.methods.registry import report_order

__all__ = [
    "Method",
    "all_methods",
    "display_name",
    "generic_pretrainings",
    "get",
    "ids",
    "register",
    "report_order",
]
