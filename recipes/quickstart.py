"""Quickstart: pretrain pn_tiny on stdlib docstrings, project an expert, generate.

    python -m recipes.quickstart --workdir=runs/quickstart
"""

from absl import flags
from absl import logging
from recipes import cli

flags.DEFINE_string("workdir", "runs/quickstart", "Where outputs are written.")
flags.DEFINE_integer("steps", 150, "Training steps.")
flags.DEFINE_integer("batch_size", 16, "Windows per batch (one expert per batch).")
flags.DEFINE_integer("sequence_length", 128, "Bytes per window.")
flags.DEFINE_integer("seed", 0, "Random seed.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import keras

    from keras_pn.quickstart import run_quickstart

    logging.info("Keras backend: %s", keras.config.backend())
    results = run_quickstart(
        FLAGS.workdir,
        steps=FLAGS.steps,
        batch_size=FLAGS.batch_size,
        sequence_length=FLAGS.sequence_length,
        seed=FLAGS.seed,
    )
    print(f"\nloss {results['first_loss']:.3f} -> {results['last_loss']:.3f} "
          f"over {results['tokens_seen']:,} byte tokens ({results['backend']})")
    print(f"expert {results['expert']} ({results['expert_family']}): "
          f"{results['pn_parameters']:,} PN parameters -> "
          f"{results['expert_parameters']:,} in the exported GPT; "
          f"max |logit diff| {results['projection_max_abs_logit_diff']:.2e}")
    print(f"saved {results['preset']}")
    print(f"sample: {results['sample']!r}")


if __name__ == "__main__":
    cli.run(main)
