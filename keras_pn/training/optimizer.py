"""The paper's optimizer: Adam with linear warm-up and global-norm clipping 5.0."""

import math

import keras
from keras import ops

from keras_pn.api_export import keras_pn_export


@keras_pn_export("keras_pn.training.WarmupCosineSchedule")
class WarmupCosineSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `peak`, then cosine decay to `final_fraction * peak`.

    The paper specifies Adam, a 1k-step warm-up and lr 1e-4, not the decay;
    cosine to 10% is our default (`final_fraction=1.0` keeps it constant).

    Args:
        peak: float. Learning rate after warm-up.
        warmup_steps: int.
        total_steps: int. Steps of the whole run (decay ends there).
        final_fraction: float. Final learning rate as a fraction of `peak`.

    Example:
    >>> schedule = WarmupCosineSchedule(1e-3, warmup_steps=10, total_steps=100)
    >>> round(float(schedule(5)), 6), round(float(schedule(100)), 6)
    (0.0005, 0.0001)
    """

    def __init__(self, peak, warmup_steps, total_steps, final_fraction=0.1):
        self.peak = float(peak)
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(max(total_steps, warmup_steps + 1))
        self.final_fraction = float(final_fraction)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = ops.maximum(float(self.warmup_steps), 1.0)
        warm = self.peak * ops.minimum(step / warmup, 1.0)
        progress = (step - self.warmup_steps) / float(self.total_steps - self.warmup_steps)
        progress = ops.clip(progress, 0.0, 1.0)
        cosine = 0.5 * (1.0 + ops.cos(math.pi * progress))
        decayed = self.peak * (self.final_fraction + (1.0 - self.final_fraction) * cosine)
        return ops.where(step < self.warmup_steps, warm, decayed)

    def get_config(self):
        return {
            "peak": self.peak,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
            "final_fraction": self.final_fraction,
        }


def paper_optimizer(
    learning_rate,
    total_steps,
    warmup_steps=None,
    clipnorm=5.0,
    final_fraction=0.1,
    weight_decay=None,
):
    """Adam (or AdamW when `weight_decay`) with warm-up, cosine decay, clipping.

    Args:
        learning_rate: float. Peak learning rate (paper: 1e-4 at 126M params;
            tiny CPU models train well at 1e-3 to 3e-3).
        total_steps: int. Steps of the run.
        warmup_steps: int. Defaults to `min(1000, total_steps // 10)` (paper: 1k).
        clipnorm: float. Global gradient-norm clipping (paper: 5.0).
        final_fraction: float. Learning rate at the end, relative to the peak.
        weight_decay: optional float for AdamW.
    """
    if warmup_steps is None:
        warmup_steps = min(1000, max(1, total_steps // 10))
    schedule = WarmupCosineSchedule(
        learning_rate, warmup_steps, total_steps, final_fraction=final_fraction
    )
    if weight_decay:
        return keras.optimizers.AdamW(
            schedule, weight_decay=weight_decay, global_clipnorm=clipnorm
        )
    return keras.optimizers.Adam(schedule, global_clipnorm=clipnorm)
