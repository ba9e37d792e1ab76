"""Training: the paper's optimizer, resumable token-budgeted runs, fine-tuning, distillation."""

from keras_pn.training.checkpointing import Checkpointer
from keras_pn.training.optimizer import WarmupCosineSchedule
from keras_pn.training.optimizer import paper_optimizer
from keras_pn.training.trainer import TrainResult
from keras_pn.training.trainer import compile_for_training
from keras_pn.training.trainer import train

__all__ = [
    "Checkpointer",
    "TrainResult",
    "WarmupCosineSchedule",
    "compile_for_training",
    "paper_optimizer",
    "train",
]
