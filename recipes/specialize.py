"""Specialize a pretrained model to a domain: select/project, fine-tune, test.

    python -m recipes.specialize --method=slm --pretrained=runs/slm --data_dir=runs/data \
        --domain=licenses --size=25000 --workdir=runs/slm_licenses
    python -m recipes.specialize --method=pn --select=best_pretrained --pretrained=runs/pn ...
    python -m recipes.specialize --method=pn_histogram --pretrained=runs/pn ...
    python -m recipes.specialize --method=llm_lora --lora_rank=8 --pretrained=runs/llm ...
    python -m recipes.specialize --method=slm_nopt ...   # no --pretrained

From a trained preset and a directory of your own text alone (no generic corpus, no
prepared run): train/valid/test.jsonl, or a folder of .txt files split by file:

    python -m recipes.specialize --preset=pn_tiny_generic --domain_dir=my_texts/ \
        --workdir=out/ [--select=most_frequent|histogram|best_pretrained|finetune_all]
    python -m recipes.specialize --preset=slm_preset_dir/ --domain_dir=my_texts/ --workdir=out/

Fine-tuning uses lr/3 of pretraining and early stopping on the domain's valid
split. For `pn`/`mix`, `--select` picks the expert (most_frequent,
best_pretrained, finetune_all, histogram); `pn_histogram` projects the whole
domain histogram. With `--preset`, the method follows from the preset (a
projected network: its expert selection; a plain GPT: fine-tuned as is). The fine-tuned model is saved as a preset in `<workdir>/preset`
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
flags.DEFINE_string("data_dir", None, "Output of `recipes.prepare_data` (with --domain).")
flags.DEFINE_string("domain", None, "Domain to specialize to (with --data_dir; with "
                    "--domain_dir: its name, default the directory's).")
flags.DEFINE_string("preset", None, "A trained preset (directory or zoo name) to specialize "
                    "on --domain_dir, instead of --pretrained/--data_dir.")
flags.DEFINE_string("domain_dir", None, "With --preset: your text, train/valid/test.jsonl or "
                    "a folder of .txt files (split by file, seeded by --seed).")
flags.DEFINE_boolean("overwrite", False, "With --preset: replace a non-empty --workdir.")
flags.DEFINE_integer("size", None, "Specialization-set size in tokens (default: whole train split).")
flags.DEFINE_string("workdir", None, "Run directory.", required=True)
common.define_run_flags()
FLAGS = flags.FLAGS


class UsageError(ValueError):
    """Flags that do not describe one run."""


def _from_preset():
    from keras_pn.specialize_from_preset import specialize_from_preset

    if FLAGS.domain_dir is None:
        raise UsageError("--preset needs --domain_dir (a directory of your text). Fix: "
                         "add --domain_dir=DIR.")
    if FLAGS.pretrained or FLAGS.data_dir:
        raise UsageError("Pass --preset with --domain_dir, or --pretrained with "
                         "--data_dir, not both.")
    result = specialize_from_preset(
        FLAGS.preset, FLAGS.domain_dir, FLAGS.workdir, common.run_config(),
        method=FLAGS.method if FLAGS["method"].present else None, size=FLAGS.size,
        domain=FLAGS.domain, overwrite=FLAGS.overwrite,
    )
    print(f"{result['method']} on {result['domain']}: test perplexity "
          f"{result['perplexity']:.2f} after {result['finetune_steps']} fine-tuning steps; "
          f"preset in {result['preset']}")


def main(argv):
    del argv
    common.start_logging()
    if FLAGS.preset is not None:
        return _from_preset()
    if FLAGS.data_dir is None or FLAGS.domain is None:
        raise UsageError("Pass --data_dir and --domain (a prepared run), or --preset and "
                         "--domain_dir (a trained preset and your own text).")
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
