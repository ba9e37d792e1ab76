"""SLM: a small GPT pretrained on the generic stream, then fine-tuned on the domain."""

from keras_pn.methods import common
from keras_pn.methods.base import Method
from keras_pn.methods.registry import register


class SmallModel(Method):
    """A small GPT pretrained on the generic stream."""

    def build_model(self, data, config):
        return common.gpt(config.slm_preset, data)

    def pretraining_stream(self, data, config, domain=None, size=None):
        return common.generic_stream(data, config)


METHOD = register(
    SmallModel(
        id="slm",
        display_name="SLM",
        run_rank=0,
        report_rank=0,
        pretraining="slm",
        is_generic_pretraining=True,
        cost_convention=(
            "generic: SLM pretraining; specialization: fine-tuning on the domain."
        ),
        description="SLM: a small GPT pretrained on the generic stream, then fine-tuned",
        evaluate_before_finetuning=True,
        save_specialized=True,
    )
)
