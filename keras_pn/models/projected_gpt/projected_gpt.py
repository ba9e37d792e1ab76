"""`ProjectedGPT`: the projected network task (SLM-pn), its generation and export."""

import numpy as np

from keras_pn.api_export import keras_pn_export
from keras_pn.models.causal_lm import CausalLM
from keras_pn.models.gpt.gpt_causal_lm import GPTCausalLM
from keras_pn.models.gpt.gpt_causal_lm_preprocessor import GPTCausalLMPreprocessor
from keras_pn.models.projected_gpt.projected_gpt_backbone import ProjectedGPTBackbone
from keras_pn.models.projected_gpt.projected_gpt_backbone import validate_expert
from keras_pn.models.projected_gpt.projected_gpt_causal_lm_preprocessor import (
    ProjectedGPTCausalLMPreprocessor,
)
from keras_pn.models.projected_gpt.projection import project_backbone


@keras_pn_export("keras_pn.models.ProjectedGPT")
class ProjectedGPT(CausalLM):
    """A projected network with one small GPT expert per cluster.

    Pretrain once on the generic corpus with each example's cluster id;
    then, for a new domain, `project(expert=i)` (or `project(histogram=p)`)
    instantiates the expert in closed form as a plain `GPTCausalLM` to
    fine-tune and serve at an SLM's cost.

    Calling the model on `{"token_ids", "padding_mask", "cluster_ids"}`
    returns logits `(batch, seq, vocabulary)`.

    Args:
        backbone: a `ProjectedGPTBackbone`.
        preprocessor: a `ProjectedGPTCausalLMPreprocessor` or `None`.

    Example:
    ```python
    pn = keras_pn.models.ProjectedGPT.from_preset("pn_tiny", load_weights=False)
    slm = pn.project(expert=3)          # a plain GPTCausalLM
    slm.generate(prompt_ids, stop_token_ids=None)
    pn.generate(prompt_ids, expert=3, stop_token_ids=None)
    ```
    """

    backbone_cls = ProjectedGPTBackbone
    preprocessor_cls = ProjectedGPTCausalLMPreprocessor

    def generation_expert_code(self, inputs):
        """The codes of `inputs["cluster_ids"]`: `(batch, m)`."""
        return self.backbone.expert_embedding(inputs["cluster_ids"])

    def generate(
        self,
        inputs,
        max_length=None,
        stop_token_ids="auto",
        strip_prompt=False,
        expert=None,
    ):
        """Generate with expert `expert` (or the `cluster_ids` in `inputs`).

        Args:
            inputs: strings (with a preprocessor) or a dict of `token_ids`
                and `padding_mask` (without); may hold `cluster_ids`.
            max_length, stop_token_ids, strip_prompt: as `CausalLM.generate`.
            expert: int, the expert generating every sequence.
        """
        has_clusters = isinstance(inputs, dict) and "cluster_ids" in inputs
        if expert is None and not has_clusters:
            raise ValueError(
                "ProjectedGPT.generate() needs an expert: pass `expert=i` "
                f"(0 <= i < {self.backbone.num_experts}) or `cluster_ids` in "
                "the inputs."
            )
        if expert is not None:
            expert = validate_expert(expert, self.backbone.num_experts)
            if self.preprocessor is None:
                inputs = dict(inputs)
                batch_size = np.shape(inputs["token_ids"])[0]
                inputs["cluster_ids"] = np.full((batch_size,), expert, "int32")
            else:
                prompts = inputs["prompts"] if isinstance(inputs, dict) else inputs
                # "prompts" last: keras-hub reads the scalar-ness of the last key.
                inputs = {"cluster_ids": expert, "prompts": prompts}
        return super().generate(
            inputs,
            max_length=max_length,
            stop_token_ids=stop_token_ids,
            strip_prompt=strip_prompt,
        )

    def project(self, expert=None, histogram=None):
        """Export one expert as a plain, trainable `GPTCausalLM`.

        Args:
            expert: int, the expert (cluster) to instantiate.
            histogram: `(num_experts,)` cluster histogram of a domain, for
                the soft projection `alpha = sum_c p[c] E[c] M`.

        Returns:
            A `GPTCausalLM` whose logits equal this model's for that expert.
        """
        backbone = project_backbone(self.backbone, expert=expert, histogram=histogram)
        preprocessor = None
        if self.preprocessor is not None:
            preprocessor = GPTCausalLMPreprocessor(
                tokenizer=self.preprocessor.tokenizer,
                sequence_length=self.preprocessor.sequence_length,
                add_start_token=self.preprocessor.add_start_token,
                add_end_token=self.preprocessor.add_end_token,
            )
        return GPTCausalLM(backbone=backbone, preprocessor=preprocessor)
