"""SLM-pn: a projected network pretrained once; the domain's expert is projected to a plain SLM and fine-tuned."""

from keras_pn.methods.base import Method
from keras_pn.methods.registry import register

METHOD = register(
    Method(
        id="pn",
        display_name="SLM-pn",
        run_rank=5,
        report_rank=4,
        pretraining="pn",
        is_generic_pretraining=True,
        cost_convention=(
            "generic: projected-network pretraining; specialization: expert "
            "selection, projection and fine-tuning."
        ),
        flags=("pn_clusters", "expert_selection"),
    )
)
