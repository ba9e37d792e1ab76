"""Evaluate: merge per-method result fragments, write the table and plots.

Training recipes each drop `<workdir>/results/<method>/<domain>.json` (and
`_generic.json` for pretraining costs; format: `keras_pn.evaluation.results`);
this recipe merges them (or reads `<workdir>/results.json`) and writes
`results.json`, `results.md` and PNG plots:

    python -m recipes.evaluate --workdir=runs/plan_early
"""

from absl import flags
from recipes import cli

flags.DEFINE_string("workdir", None, "Work directory with results/ or results.json.")
flags.DEFINE_string("output_dir", None, "Where to write the report (default: workdir).")
flags.DEFINE_enum(
    "source",
    "auto",
    ["auto", "fragments", "json"],
    "Read fragments (results/<method>/<domain>.json), results.json, or auto: "
    "fragments when results/ exists.",
)
flags.DEFINE_enum(
    "cost_field",
    "flops",
    ["flops", "seconds"],
    "Cost on the plots' axes: FLOPs by formula or measured seconds.",
)
flags.mark_flag_as_required("workdir")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from keras_pn.evaluation.report import evaluate_workdir

    paths = evaluate_workdir(
        FLAGS.workdir,
        output_dir=FLAGS.output_dir,
        source=FLAGS.source,
        cost_field=FLAGS.cost_field,
    )
    print(paths.pop("text"))
    for name, path in paths.items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    cli.run(main)
