"""SLM-d: the pretrained SLM fine-tuned on the domain's labels and on the fine-tuned LLM's distributions."""

from keras_pn.methods.base import Method
from keras_pn.methods.registry import register

METHOD = register(
    Method(
        id="distill",
        display_name="SLM-d",
        run_rank=8,
        report_rank=6,
        pretraining="slm",
        cost_convention=(
            "generic: teacher (LLM) and student (SLM) pretraining; specialization: "
            "teacher fine-tuning and student distillation."
        ),
        inherits={"generic": ("llm", "slm"), "specialization": ("llm",)},
        flags=("distill_alpha",),
        needs_teacher="llm",
    )
)
