"""SLM-nopt: the small GPT trained on the domain's specialization set only (no pretraining)."""

from keras_pn.methods import common
from keras_pn.methods.base import Method
from keras_pn.methods.registry import register


class NoPretraining(Method):
    """The small GPT, trained from scratch on the domain at the pretraining learning rate."""

    def build_model(self, data, config):
        return common.gpt(config.slm_preset, data)

    def specialization_model(self, pretrained, data, domain, size, config, *, teacher, info):
        return self.build_model(data, config)

    def specialization_learning_rate(self, config):
        return config.learning_rate


METHOD = register(
    NoPretraining(
        id="slm_nopt",
        display_name="SLM-nopt",
        run_rank=1,
        report_rank=1,
        cost_convention=(
            "generic: none; specialization: training on the domain only."
        ),
        description=(
            "SLM-nopt: a small GPT trained from scratch on the domain's specialization set only"
        ),
    )
)
