"""LLM: a large GPT pretrained on the generic stream, then fine-tuned on the domain."""

from keras_pn.methods.base import Method
from keras_pn.methods.registry import register

METHOD = register(
    Method(
        id="llm",
        display_name="LLM",
        run_rank=2,
        report_rank=2,
        pretraining="llm",
        is_generic_pretraining=True,
        cost_convention=(
            "generic: LLM pretraining; specialization: fine-tuning on the domain."
        ),
    )
)
