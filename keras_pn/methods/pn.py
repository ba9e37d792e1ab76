"""SLM-pn: a projected network pretrained once; the domain's expert is projected to a plain SLM and fine-tuned."""

from keras_pn.methods import common
from keras_pn.methods.base import Method
from keras_pn.methods.registry import register


class ProjectedNetwork(Method):
    """A projected network; the domain's expert is projected to a plain small GPT."""

    def build_model(self, data, config):
        return common.projected_network(config, data)

    def pretraining_stream(self, data, config, domain=None, size=None):
        return common.projected_stream(data, config)

    def generic_validation(self, pretrained, data, config, max_windows=None):
        """Each held-out generic window scored with its cluster's expert code."""
        from keras_pn.evaluation import generic_validation

        k = config.pn_clusters
        windows, labels = data.generic_valid(k, max_windows=max_windows)
        result = generic_validation.evaluate_with_codes(
            pretrained, windows, labels, batch_size=config.batch_size
        )
        return {**result, "k": k}

    def specialization_model(self, pretrained, data, domain, size, config, *, teacher, info):
        return common.select_expert_model(
            pretrained, data, domain, size, config, config.expert_selection, info
        )


METHOD = register(
    ProjectedNetwork(
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
        flags=("pn_clusters", "pn_batch_composition", "expert_selection"),
        description=(
            "SLM-pn: the PN expert of the domain's most frequent cluster, projected to a "
            "plain small GPT in closed form, then fine-tuned"
        ),
        save_specialized=True,
        publish_to_zoo=True,
    )
)
