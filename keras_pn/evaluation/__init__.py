"""Evaluation: perplexity, cost accounting (FLOPs, time, C_total) and reports.

- `evaluate_nll`, `macro_perplexity` (`keras_pn.evaluation.perplexity`);
- the generic validation perplexity of a pretrained model on the held-out generic
  windows, each window by its cluster's expert for PN and the hard mixture
  (`keras_pn.evaluation.generic_validation`);
- `ModelDims`, `parameter_counts` (`keras_pn.evaluation.architecture`);
- `training_flops_per_token`, `inference_flops_per_token`
  (`keras_pn.evaluation.flops`); `device_description`
  (`keras_pn.evaluation.device`);
- `CostLedger`, `apply_paper_conventions` (`keras_pn.evaluation.ledger`);
- `write_fragment`, `merge_fragments`, `load_results`
  (`keras_pn.evaluation.results`);
- `write_report`, `evaluate_workdir` (`keras_pn.evaluation.report`; tables in
  `report_tables`, plots in `report_plots`).

Method ids, names and cost conventions come from `keras_pn.methods`.
"""

from keras_pn.evaluation.architecture import ModelDims
from keras_pn.evaluation.architecture import parameter_counts
from keras_pn.evaluation.device import device_description
from keras_pn.evaluation.flops import distillation_flops_per_token
from keras_pn.evaluation.flops import inference_flops_per_token
from keras_pn.evaluation.flops import training_flops_per_token
from keras_pn.evaluation.ledger import CostLedger
from keras_pn.evaluation.ledger import apply_paper_conventions
from keras_pn.evaluation.perplexity import NLLEvaluator
from keras_pn.evaluation.perplexity import evaluate_domains
from keras_pn.evaluation.perplexity import evaluate_nll
from keras_pn.evaluation.perplexity import macro_nll
from keras_pn.evaluation.perplexity import macro_perplexity
from keras_pn.evaluation.perplexity import nll_sums
from keras_pn.evaluation.report import evaluate_workdir
from keras_pn.evaluation.report import write_report
from keras_pn.evaluation.results import DISPLAY_NAMES
from keras_pn.evaluation.results import METHODS
from keras_pn.evaluation.results import load_results
from keras_pn.evaluation.results import merge_fragments
from keras_pn.evaluation.results import write_fragment
from keras_pn.evaluation.results import write_generic_fragment

__all__ = [
    "DISPLAY_NAMES",
    "METHODS",
    "CostLedger",
    "ModelDims",
    "NLLEvaluator",
    "apply_paper_conventions",
    "device_description",
    "distillation_flops_per_token",
    "evaluate_domains",
    "evaluate_nll",
    "evaluate_workdir",
    "inference_flops_per_token",
    "load_results",
    "macro_nll",
    "macro_perplexity",
    "merge_fragments",
    "nll_sums",
    "parameter_counts",
    "training_flops_per_token",
    "write_fragment",
    "write_generic_fragment",
    "write_report",
]
