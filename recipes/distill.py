"""SLM-d: distill a domain-fine-tuned LLM into the pretrained SLM.

    python -m recipes.distill --student=runs/slm --teacher=runs/llm_licenses/preset \
        --data_dir=runs/data --domain=licenses --size=25000 --distill_alpha=0.5 \
        --workdir=runs/distill_licenses

The student is fine-tuned on a mixture of the domain's labels (weight
1 - alpha) and the teacher's next-token distributions (weight alpha), with
early stopping on the valid split (plain cross-entropy).
"""

from absl import flags

from keras_pn import methods

from recipes import cli
from recipes import common

# The method that learns from a fine-tuned teacher (SLM-d).
STUDENT = next(m for m in methods.all_methods() if m.needs_teacher)

flags.DEFINE_string("student", None, "Workdir of the pretrained SLM (`recipes.pretrain`).", required=True)
flags.DEFINE_string("teacher", None, "Preset of the fine-tuned LLM (`recipes.specialize --method=llm`).", required=True)
flags.DEFINE_string("data_dir", None, "Output of `recipes.prepare_data`.", required=True)
flags.DEFINE_string("domain", None, "Domain.", required=True)
flags.DEFINE_integer("size", None, "Specialization-set size in tokens.")
flags.DEFINE_string("workdir", None, "Run directory.", required=True)
common.define_run_flags()
FLAGS = flags.FLAGS


def main(argv):
    del argv
    common.start_logging()
    from keras_pn.experiment import run_specialization

    result = run_specialization(
        STUDENT.id,
        data_dir=FLAGS.data_dir,
        domain=FLAGS.domain,
        size=FLAGS.size,
        workdir=FLAGS.workdir,
        config=common.run_config(),
        pretrained_dir=FLAGS.student,
        teacher_preset=FLAGS.teacher,
    )
    print(f"{STUDENT.display_name} on {FLAGS.domain}: "
          f"test perplexity {result['perplexity']:.2f}; "
          f"preset in {FLAGS.workdir}/preset")


if __name__ == "__main__":
    cli.run(main)
