"""SLM-mix: a hard mixture, one small expert per generic cluster; the domain's expert is fine-tuned."""

from keras_pn.methods import common
from keras_pn.methods.pn import ProjectedNetwork
from keras_pn.methods.registry import register


class HardMixture(ProjectedNetwork):
    """The projected network's hard special case: pretrained and specialized the same way."""

    def build_model(self, data, config):
        return common.hard_mixture(config, data)


METHOD = register(
    HardMixture(
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
        description=(
            "SLM-mix: the hard mixture's expert of the domain, a plain small GPT, fine-tuned"
        ),
    )
)
