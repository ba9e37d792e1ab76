"""LLM: a large GPT pretrained on the generic stream, then fine-tuned on the domain."""

from keras_pn.methods import common
from keras_pn.methods.base import Method
from keras_pn.methods.registry import register


class LargeModel(Method):
    """A large GPT pretrained on the generic stream."""

    def build_model(self, data, config):
        return common.gpt(config.llm_preset, data)

    def pretraining_stream(self, data, config, domain=None, size=None):
        return common.generic_stream(data, config)


METHOD = register(
    LargeModel(
        id="llm",
        display_name="LLM",
        run_rank=2,
        report_rank=2,
        pretraining="llm",
        is_generic_pretraining=True,
        cost_convention=(
            "generic: LLM pretraining; specialization: fine-tuning on the domain."
        ),
        description="LLM: a large GPT pretrained on the generic stream, then fine-tuned",
        evaluate_before_finetuning=True,
    )
)
