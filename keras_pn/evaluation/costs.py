"""Cost accounting, one name space: sizes, FLOPs formulas, devices and the ledger.

Re-exports only; each concept lives in its module:

- `keras_pn.evaluation.architecture`: `ModelDims`, `parameter_counts`,
  `lora_parameter_count`;
- `keras_pn.evaluation.flops`: the FLOPs formulas (`training_flops_per_token`,
  `inference_flops_per_token`, `distillation_flops_per_token`,
  `projection_flops_per_batch`);
- `keras_pn.evaluation.device`: `device_description`, `cpu_name`;
- `keras_pn.evaluation.ledger`: `CostEntry`, `CostLedger`,
  `apply_paper_conventions`, `C_total(N) = C_generic + N * C_specialization`.

Example:
>>> from keras_pn.evaluation import costs, flops
>>> costs.training_flops_per_token is flops.training_flops_per_token
True
"""

from keras_pn.evaluation.architecture import DEFAULT_LORA_LAYERS
from keras_pn.evaluation.architecture import ModelDims
from keras_pn.evaluation.architecture import lora_parameter_count
from keras_pn.evaluation.architecture import parameter_counts
from keras_pn.evaluation.device import cpu_name
from keras_pn.evaluation.device import device_description
from keras_pn.evaluation.flops import OPTIMIZER_FLOPS_PER_PARAMETER
from keras_pn.evaluation.flops import distillation_flops_per_token
from keras_pn.evaluation.flops import inference_flops_per_token
from keras_pn.evaluation.flops import projection_flops_per_batch
from keras_pn.evaluation.flops import training_flops_per_token
from keras_pn.evaluation.ledger import KINDS
from keras_pn.evaluation.ledger import CostEntry
from keras_pn.evaluation.ledger import CostLedger
from keras_pn.evaluation.ledger import apply_paper_conventions

__all__ = [
    "DEFAULT_LORA_LAYERS",
    "KINDS",
    "OPTIMIZER_FLOPS_PER_PARAMETER",
    "CostEntry",
    "CostLedger",
    "ModelDims",
    "apply_paper_conventions",
    "cpu_name",
    "device_description",
    "distillation_flops_per_token",
    "inference_flops_per_token",
    "lora_parameter_count",
    "parameter_counts",
    "projection_flops_per_batch",
    "training_flops_per_token",
]
