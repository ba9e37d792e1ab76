"""SLM-d: the pretrained SLM fine-tuned on the domain's labels and on the fine-tuned LLM's distributions."""

from keras_pn.methods.base import Method
from keras_pn.methods.registry import register


class Distillation(Method):
    """The pretrained SLM learns from the domain's labels and the fine-tuned teacher."""

    def specialization_model(self, pretrained, data, domain, size, config, *, teacher, info):
        from keras_pn.training.distillation import Distiller

        if teacher is None:
            raise ValueError(f"`{self.id}` needs the fine-tuned LLM (`teacher=`).")
        info["alpha"] = config.distill_alpha
        return Distiller(pretrained, teacher, alpha=config.distill_alpha)

    def trained_model(self, model):
        return model.student

    def specialization_cost(self, model, *, teacher, config, sequence_length, tokens_per_batch):
        from keras_pn.evaluation import flops

        return "distill", flops.distillation_flops_per_token(
            model, teacher, sequence_length, tokens_per_batch
        )


METHOD = register(
    Distillation(
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
        description=(
            "SLM-d: the pretrained small GPT fine-tuned on the domain's labels and on the "
            "fine-tuned LLM's next-token distributions"
        ),
    )
)
