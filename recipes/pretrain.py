"""Pretrain one model of the paper on prepared data (resumable).

    python -m recipes.pretrain --method=slm --data_dir=runs/data --workdir=runs/slm
    python -m recipes.pretrain --method=pn  --data_dir=runs/data --workdir=runs/pn --pn_clusters=32
    python -m recipes.pretrain --method=is  --data_dir=runs/data --workdir=runs/is_law \
        --domain=licenses --size=25000

`--method`: slm | llm (generic stream), pn (generic stream with cluster ids,
single-cluster batches), mix (hard mixture of experts), is (SLM on one
domain's importance-resampled stream). `--distribution=data_parallel|model_parallel`
(with `--mesh_shape=2,4`) trains on several devices (keras_pn.distribution). Run the same command again to resume
after an interruption. TensorBoard logs: `<workdir>/tensorboard`.
"""

from absl import flags

from keras_pn import methods

from recipes import cli
from recipes import common

PRETRAINABLE = [m.id for m in methods.all_methods() if m.has_pretraining]

flags.DEFINE_enum("method", PRETRAINABLE[0], PRETRAINABLE, "What to pretrain.")
flags.DEFINE_string("data_dir", None, "Output of `python -m recipes.prepare_data`.", required=True)
flags.DEFINE_string("workdir", None, "Run directory (checkpoints, preset, logs).", required=True)
flags.DEFINE_string("domain", None, "Domain of `--method=is`.")
flags.DEFINE_integer("size", None, "Specialization-set size (tokens) of `--method=is`.")
common.define_run_flags()
common.define_distribution_flags()
FLAGS = flags.FLAGS


def main(argv):
    del argv
    common.start_logging()
    from keras_pn.data.prepare import load_prepared

    with common.distribution_scope():
        _, result = methods.get(FLAGS.method).pretrain(
            load_prepared(FLAGS.data_dir),
            FLAGS.workdir,
            common.run_config(),
            domain=FLAGS.domain,
            size=FLAGS.size,
        )
    print(f"{FLAGS.method}: {result.steps} steps, {result.tokens:,} tokens, "
          f"{result.seconds:.0f} s, final loss {result.final_loss:.3f}; "
          f"preset in {FLAGS.workdir}/preset")


if __name__ == "__main__":
    cli.run(main)
