"""LLM-LoRA: the pretrained LLM fine-tuned through low-rank adapters only.

As the paper: rank 64 (`--lora_rank`) on the attention's query and value
projections (keras-hub's `enable_lora` default targets), with the run's own
learning rate and step budget (`--lora_learning_rate`, `--lora_max_steps`):
adapters start at zero and learn slower than full fine-tuning at lr/3.
"""

from keras_pn.methods.base import Method
from keras_pn.methods.registry import register


class LowRankAdaptation(Method):
    """The pretrained LLM with LoRA adapters of rank `config.lora_rank` on `lora_targets`."""

    def specialization_model(self, pretrained, data, domain, size, config, *, teacher, info):
        pretrained.backbone.enable_lora(
            config.lora_rank, target_layer_names=list(self.lora_targets)
        )
        info["lora_rank"] = config.lora_rank
        return pretrained

    def specialization_learning_rate(self, config):
        return config.lora_learning_rate

    def specialization_max_steps(self, config):
        return config.lora_max_steps

    def specialization_cost(self, model, *, teacher, config, sequence_length, tokens_per_batch):
        from keras_pn.evaluation import flops

        return "finetune", flops.training_flops_per_token(
            model,
            sequence_length=sequence_length,
            tokens_per_batch=tokens_per_batch,
            lora_rank=config.lora_rank,
            lora_layers=self.lora_targets,
        )


METHOD = register(
    LowRankAdaptation(
        id="llm_lora",
        display_name="LLM-LoRA",
        run_rank=3,
        report_rank=7,
        pretraining="llm",
        cost_convention=(
            "generic: LLM pretraining; specialization: LoRA fine-tuning."
        ),
        inherits={"generic": ("llm",)},
        lora_targets=("query_dense", "value_dense"),
        flags=("lora_rank", "lora_learning_rate", "lora_max_steps"),
        description=(
            "LLM-LoRA: the pretrained large GPT fine-tuned through low-rank adapters only"
        ),
        exports_preset=False,
    )
)
