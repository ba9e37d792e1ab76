"""SLM-pn (histogram): the projected network's soft expert of the domain's whole cluster histogram."""

from keras_pn.methods.base import Method
from keras_pn.methods.registry import register

METHOD = register(
    Method(
        id="pn_histogram",
        display_name="SLM-pn (histogram)",
        run_rank=6,
        report_rank=8,
        pretraining="pn",
        cost_convention=(
            "generic: projected-network pretraining; specialization: histogram "
            "projection and fine-tuning."
        ),
        inherits={"generic": ("pn",)},
        flags=("pn_clusters",),
    )
)
