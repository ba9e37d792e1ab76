"""SLM-is: a small GPT pretrained on the generic stream resampled to the domain's cluster histogram, then fine-tuned."""

from keras_pn.methods.base import Method
from keras_pn.methods.registry import register

METHOD = register(
    Method(
        id="is",
        display_name="SLM-is",
        run_rank=7,
        report_rank=5,
        cost_convention=(
            "generic: none; specialization: importance-sampled pretraining (per "
            "domain) and fine-tuning."
        ),
        flags=("is_clusters", "is_tokens"),
    )
)
