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

    def score_by_cluster(self, pretrained, windows, cluster_ids, batch_size):
        """Each window with its cluster's expert code."""
        from keras_pn.evaluation import generic_validation

        return generic_validation.evaluate_with_codes(
            pretrained, windows, cluster_ids, batch_size=batch_size
        )

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
        expert_clusters="pn_clusters",
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
