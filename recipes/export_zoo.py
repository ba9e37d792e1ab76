"""Publish a finished plan_early run to the zoo (presets, model cards, results).

    python -m recipes.export_zoo --workdir=runs/plan_early --zoo_dir=zoo \
        --command="python -m recipes.plan_early --workdir=runs/plan_early"
"""

from absl import flags

from recipes import cli
from recipes import common

flags.DEFINE_string("workdir", "runs/plan_early", "A finished plan_early work directory.")
flags.DEFINE_string("zoo_dir", "zoo", "The zoo root.")
flags.DEFINE_string("command", None, "The command that produced the run (default: plan_early on --workdir).")
flags.DEFINE_integer("size", None, "Specialization-set size to publish (default: the largest).")
flags.DEFINE_list("methods", None, "Specialized methods to publish per domain "
                  "(default: keras_pn.zoo.published_methods()).")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    common.start_logging()
    from keras_pn.zoo import export_zoo

    command = FLAGS.command or f"python -m recipes.plan_early --workdir={FLAGS.workdir}"
    written = export_zoo(FLAGS.workdir, FLAGS.zoo_dir, command=command, size=FLAGS.size,
                         methods=FLAGS.methods)
    for name, path in written.items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    cli.run(main)
