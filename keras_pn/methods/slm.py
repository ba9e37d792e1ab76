"""SLM: a small GPT pretrained on the generic stream, then fine-tuned on the domain."""

from keras_pn.methods.base import Method
from keras_pn.methods.registry import register

METHOD = register(
    Method(
        id="slm",
        display_name="SLM",
        run_rank=0,
        report_rank=0,
        pretraining="slm",
        is_generic_pretraining=True,
        cost_convention=(
            "generic: SLM pretraining; specialization: fine-tuning on the domain."
        ),
    )
)
