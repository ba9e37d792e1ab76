"""`ExpertSet`: the paper's hard mixture, k independent small GPTs, one per cluster.

Each expert is a plain `GPTCausalLM` preset of its own (own embeddings, norms,
weights and optimizer state: nothing is shared), trained only on its cluster's
generic windows. The set is a directory:

    <directory>/mixture.json        {"format": ..., "num_experts": k, "experts": [...]}
    <directory>/experts/<c>/        a keras-hub preset per expert

It offers the projected network's selection interface (`num_experts`,
`project(expert=...)`, `expert_losses`) so expert selection treats both alike.

>>> import tempfile, keras
>>> from keras_pn.models import GPTBackbone, GPTCausalLM
>>> tiny = dict(vocabulary_size=16, num_layers=1, num_heads=1, hidden_dim=8,
...             intermediate_dim=16, max_sequence_length=8)
>>> directory = tempfile.mkdtemp()
>>> for c in range(2):
...     model = GPTCausalLM(GPTBackbone(**tiny))
...     model.save_to_preset(ExpertSet.expert_directory(directory, c))
>>> experts = ExpertSet.write(directory, num_experts=2, info={"tokens": [64, 64]})
>>> experts.num_experts, type(experts.project(expert=1)).__name__
(2, 'GPTCausalLM')
"""

from __future__ import annotations

import json
import os

from keras_pn import file_io

FORMAT = "keras_pn.expert_set"
FORMAT_VERSION = 1
INDEX = "mixture.json"


class ExpertSet:
    """k independent expert presets (see the module docstring)."""

    def __init__(self, directory):
        self.directory = str(directory)
        path = os.path.join(self.directory, INDEX)
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"{path} is missing: {self.directory} is not a hard mixture (an ExpertSet). "
                "Fix: pretrain the mixture first (its run writes this file when every "
                "expert is trained)."
            )
        with open(path) as f:
            self.index = json.load(f)
        if self.index.get("format") != FORMAT:
            raise ValueError(f"{path} is not an ExpertSet index (format {self.index.get('format')!r}).")
        self.num_experts = int(self.index["num_experts"])

    @staticmethod
    def expert_directory(directory, expert):
        """Where expert `expert`'s preset lives in the set at `directory`."""
        return os.path.join(str(directory), "experts", f"{int(expert):03d}")

    @classmethod
    def write(cls, directory, num_experts, info=None):
        """Index the `num_experts` expert presets under `directory` (all must exist)."""
        missing = [
            c for c in range(num_experts)
            if not os.path.exists(os.path.join(cls.expert_directory(directory, c), "config.json"))
        ]
        if missing:
            raise FileNotFoundError(f"Experts {missing} of {directory} have no preset yet.")
        file_io.atomic_write_json(
            os.path.join(str(directory), INDEX),
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "num_experts": int(num_experts),
                "experts": [
                    os.path.relpath(cls.expert_directory(directory, c), str(directory))
                    for c in range(num_experts)
                ],
                **(info or {}),
            },
            indent=2,
        )
        return cls(directory)

    def preset(self, expert):
        """The preset directory of `expert`."""
        if not 0 <= int(expert) < self.num_experts:
            raise ValueError(f"Expert {expert} is not in 0..{self.num_experts - 1}.")
        return os.path.join(self.directory, self.index["experts"][int(expert)])

    def project(self, expert=None, histogram=None):
        """Expert `expert` as a fresh, trainable `GPTCausalLM` (preprocessor detached).

        Independent experts have no shared bases to mix: a histogram projection
        (`histogram=`) is refused.
        """
        from keras_pn.models import GPTCausalLM

        if histogram is not None or expert is None:
            raise ValueError(
                "A hard mixture's experts are independent models: there is no soft "
                "projection of a histogram. Fix: select one expert (most_frequent, "
                "best_pretrained or finetune_all), or use a projected network."
            )
        model = GPTCausalLM.from_preset(self.preset(expert))
        model.preprocessor = None
        return model

    def expert_losses(self, dataset, experts=None, max_batches=None):
        """`{expert: mean masked cross-entropy on dataset}`, each expert scoring the batches."""
        import keras

        experts = range(self.num_experts) if experts is None else experts
        losses = {}
        for expert in experts:
            model = self.project(expert=int(expert))
            model.compile(
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                weighted_metrics=[],
            )
            data = dataset.take(max_batches) if max_batches else dataset
            losses[int(expert)] = float(model.evaluate(data, verbose=0))
        return losses
