"""SLM-pn (histogram): the projected network's soft expert of the domain's whole cluster histogram."""

from keras_pn.methods import common
from keras_pn.methods.base import Method
from keras_pn.methods.registry import register


class HistogramProjection(Method):
    """The projected network's soft expert of the domain's cluster histogram."""

    def specialization_model(self, pretrained, data, domain, size, config, *, teacher, info):
        return common.select_expert_model(
            pretrained, data, domain, size, config, "histogram", info
        )


METHOD = register(
    HistogramProjection(
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
        description=(
            "SLM-pn (histogram): the projected network's soft expert of the domain's "
            "cluster histogram, projected to a plain small GPT, then fine-tuned"
        ),
    )
)
