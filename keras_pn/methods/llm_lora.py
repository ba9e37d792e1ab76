"""LLM-LoRA: the pretrained LLM fine-tuned through low-rank adapters only."""

from keras_pn.methods.base import Method
from keras_pn.methods.registry import register

METHOD = register(
    Method(
        id="llm_lora",
        display_name="LLM-LoRA",
        run_rank=3,
        report_rank=7,
        pretraining="llm",
        cost_convention=(
            "generic: LLM pretraining; specialization: LoRA fine-tuning."
        ),
        inherits={"generic": ("llm",)},
        lora_targets=(
            "query_dense",
            "key_dense",
            "value_dense",
            "output_dense",
            "mlp_intermediate_dense",
            "mlp_output_dense",
        ),
        flags=("lora_rank",),
    )
)
