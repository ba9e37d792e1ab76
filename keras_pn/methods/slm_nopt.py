"""SLM-nopt: the small GPT trained on the domain's specialization set only (no pretraining)."""

from keras_pn.methods.base import Method
from keras_pn.methods.registry import register

METHOD = register(
    Method(
        id="slm_nopt",
        display_name="SLM-nopt",
        run_rank=1,
        report_rank=1,
        cost_convention=(
            "generic: none; specialization: training on the domain only."
        ),
    )
)
