"""SLM-mix: the paper's hard mixture, one small GPT pretrained independently per cluster.

Each of the `config.mix_clusters` experts is a plain SLM (`config.slm_preset`)
with its own embeddings, norms, weights and optimizer state, trained only on
its cluster's generic windows. At equal pretraining cost the experts share the
SLM's budget: `pretrain_tokens / k` tokens each. For a domain, one expert is
selected (`--select`) and fine-tuned; it is an SLM at inference.
"""

import json
import logging
import os

from keras_pn.methods import common
from keras_pn.methods.base import Method
from keras_pn.methods.registry import register

logger = logging.getLogger(__name__)


class HardMixture(Method):
    """k independent SLMs, one per cluster of the mixture's k-means (`config.mix_clusters`)."""

    def build_model(self, data, config):
        """One expert: an untrained SLM."""
        return common.gpt(config.slm_preset, data)

    def pretrain(self, data, workdir, config, domain=None, size=None):
        """Train every expert on its cluster; resumable per expert.

        Every generic pretraining gets the SLM's FLOPs; the experts are SLMs, so
        each trains on a k-th of `pretrain_tokens`. Returns `(expert 0's model,
        TrainResult)` whose tokens, seconds and steps are the sum over experts
        (all experts share one architecture, so the cost ledger's FLOPs per token
        are any expert's).
        """
        import keras

        from keras_pn.models.expert_set import ExpertSet
        from keras_pn.training.trainer import TrainResult

        k = config.mix_clusters
        total = TrainResult(steps=0, tokens=0, seconds=0.0, final_loss=0.0, losses=[])
        for expert in range(k):
            keras.utils.set_random_seed(config.seed + expert)
            model = self.build_model(data, config)
            if expert == 0:
                first = model
                per_expert = max(1, self.pretraining_tokens(config, model=model, data=data) // k)
                logger.info(
                    "Hard mixture: %d independent experts, %d tokens each (%d in all).",
                    k, per_expert, per_expert * k,
                )
            run_dir = os.path.join(workdir, "runs", f"{expert:03d}")
            summary = os.path.join(run_dir, "train.json")
            preset = ExpertSet.expert_directory(workdir, expert)
            if os.path.exists(os.path.join(preset, "config.json")) and os.path.exists(summary):
                with open(summary) as f:  # trained by an earlier, interrupted run
                    result = TrainResult(**json.load(f))
            else:
                logger.info("Hard mixture: expert %d of %d.", expert + 1, k)
                result = common.train_for_tokens(
                    model,
                    data.cluster_stream(k, expert, config.batch_size, seed=config.seed + expert),
                    per_expert,
                    run_dir,
                    data,
                    config,
                    preset_dir=preset,
                )
            total.steps += result.steps
            total.tokens += result.tokens
            total.seconds += result.seconds
            total.final_loss += result.final_loss / k
        if hasattr(data, "layout"):  # the mixture carries its k-means, as a PN preset does
            from keras_pn import clustering_assets

            clustering_assets.write_prepared_clustering(workdir, data, k, self.id)
        ExpertSet.write(
            workdir,
            k,
            info={"tokens_per_expert": per_expert, "slm_preset": str(config.slm_preset)},
        )
        return first, total

    def load_pretrained(self, workdir):
        from keras_pn.models.expert_set import ExpertSet

        return ExpertSet(workdir)

    def score_by_cluster(self, pretrained, windows, cluster_ids, batch_size):
        """Each window by its own cluster's expert."""
        from keras_pn.evaluation import generic_validation

        return generic_validation.evaluate_by_expert(
            pretrained, windows, cluster_ids, batch_size=batch_size
        )

    def specialization_model(self, pretrained, data, domain, size, config, *, teacher, info):
        return common.select_expert_model(
            pretrained, data, domain, size, config, config.expert_selection, info,
            k=config.mix_clusters,
        )


METHOD = register(
    HardMixture(
        id="mix",
        display_name="SLM-mix",
        run_rank=4,
        report_rank=3,
        pretraining="mix",
        is_generic_pretraining=True,
        expert_clusters="mix_clusters",
        cost_convention=(
            "generic: pretraining every expert of the hard mixture (the SLM's FLOPs in"
            " all); specialization: expert selection and fine-tuning."
        ),
        flags=("mix_clusters", "expert_selection"),
        description=(
            "SLM-mix: the hard mixture's expert of the domain (an independently "
            "pretrained small GPT) fine-tuned"
        ),
    )
)
