"""Specialize a pretrained model to a domain: select/project, fine-tune, test.

    python -m recipes.specialize --method=slm --pretrained=runs/slm --data_dir=runs/data \
        --domain=licenses --size=25000 --workdir=runs/slm_licenses
    python -m recipes.specialize --method=pn --select=best_pretrained --pretrained=runs/pn ...
    python -m recipes.specialize --method=pn_histogram --pretrained=runs/pn ...
    python -m recipes.specialize --method=llm_lora --lora_rank=8 --pretrained=runs/llm ...
    python -m recipes.specialize --method=slm_nopt ...   # no --pretrained

Fine-tuning uses lr/3 of pretraining and early stopping on the domain's valid
split. For `pn`/`mix`, `--select` picks the expert (most_frequent,
best_pretrained, finetune_all); `pn_histogram` projects the whole domain
histogram. The fine-tuned model is saved as a preset in `<workdir>/preset`
and its test perplexity is printed and written as a result fragment.
"""

from absl import flags

from keras_pn import methods

from recipes import cli
from recipes import common

# Methods that learn from a teacher have their own recipe (`recipes.distill`).
SPECIALIZABLE = [m.id for m in methods.all_methods() if not m.needs_teacher]

flags.DEFINE_enum(
    "method", SPECIALIZABLE[0], SPECIALIZABLE,
    "Method to specialize (see `recipes.distill` for SLM-d).",
)
flags.DEFINE_string("pretrained", None, "Workdir of `recipes.pretrain` (its `preset/`).")
flags.DEFINE_string("data_dir", None, "Output of `recipes.prepare_data`.", required=True)
flags.DEFINE_string("domain", None, "Domain to specialize to.", required=True)
flags.DEFINE_integer("size", None, "Specialization-set size in tokens (default: whole train split).")
flags.DEFINE_string("workdir", None, "Run directory.", required=True)
common.define_run_flags()
FLAGS = flags.FLAGS


def main(argv):
    del argv
    common.start_logging()
    from keras_pn.experiment import run_specialization

    result = run_specialization(
        FLAGS.method,
        data_dir=FLAGS.data_dir,
        domain=FLAGS.domain,
        size=FLAGS.size,
        workdir=FLAGS.workdir,
        config=common.run_config(),
        pretrained_dir=FLAGS.pretrained,
    )
    print(f"{FLAGS.method} on {FLAGS.domain}: test perplexity {result['perplexity']:.2f} "
          f"after {result['finetune_steps']} fine-tuning steps; preset in {FLAGS.workdir}/preset")


if __name__ == "__main__":
    cli.run(main)
