"""SLM-mix: a hard mixture, one small expert per generic cluster; the domain's expert is fine-tuned."""

from keras_pn.methods.base import Method
from keras_pn.methods.registry import register

METHOD = register(
    Method(
        id="mix",
        display_name="SLM-mix",
        run_rank=4,
        report_rank=3,
        pretraining="mix",
        is_generic_pretraining=True,
        cost_convention=(
            "generic: pretraining every expert of the hard mixture; specialization:"
            " expert selection and fine-tuning."
        ),
        flags=("pn_clusters", "expert_selection"),
    )
)
