"""SLM-is: a small GPT pretrained on the generic stream resampled to the domain's cluster histogram, then fine-tuned."""

from keras_pn.methods import common
from keras_pn.methods.base import Method
from keras_pn.methods.registry import register


class ImportanceSampling(Method):
    """A small GPT pretrained per domain on the importance-resampled generic stream."""

    def build_model(self, data, config):
        return common.gpt(config.slm_preset, data)

    def pretraining_stream(self, data, config, domain=None, size=None):
        return common.resampled_stream(data, config, domain, size)

    def pretraining_tokens(self, config, model=None, data=None):
        return config.is_tokens

    def pretrain(self, data, workdir, config, domain=None, size=None):
        if domain is None or size is None:
            raise ValueError("Importance-sampled pretraining needs `domain` and `size`.")
        return super().pretrain(data, workdir, config, domain=domain, size=size)


METHOD = register(
    ImportanceSampling(
        id="is",
        display_name="SLM-is",
        run_rank=7,
        report_rank=5,
        cost_convention=(
            "generic: none; specialization: importance-sampled pretraining (per "
            "domain) and fine-tuning."
        ),
        flags=("is_clusters", "is_tokens"),
        description=(
            "SLM-is: a small GPT pretrained on the importance-resampled generic stream, "
            "then fine-tuned"
        ),
        pretrains_per_domain=True,
        evaluate_before_finetuning=True,
        save_specialized=True,
    )
)
