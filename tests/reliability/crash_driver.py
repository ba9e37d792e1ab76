"""A small pretraining run for the crash-safety test; run it, kill it, run it again.

    KERAS_BACKEND=jax python -m tests.reliability.crash_driver --workdir=/tmp/run

Pretrains a tiny GPT with `keras_pn.training` (the paper's optimizer, atomic
checkpoints, resume) on a fixed stream of learnable sequences. Running the
same command after a crash resumes from the last checkpoint. `--step_delay`
slows each step so that a test can kill the run half-way; it does not change
the numbers. The last line of stdout is `RESULT {json}` (a `TrainResult`).
"""

import argparse
import json
import time


def stream(seed, batch_size, seq_len, vocabulary_size):
    """An infinite, seeded `tf.data` stream of `(x, y, sample_weight)` batches."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    starts = rng.integers(0, vocabulary_size - 4, (256, 1))
    steps = rng.integers(1, 4, (256, 1))
    # Arithmetic sequences modulo the vocabulary: learnable, so the loss falls.
    tokens = (4 + (starts + steps * np.arange(seq_len + 1)) % (vocabulary_size - 4))
    tokens = tokens.astype("int32")

    def to_batch(t):
        x = {"token_ids": t[:, :-1], "padding_mask": tf.ones_like(t[:, :-1])}
        return x, t[:, 1:], tf.ones_like(t[:, 1:], dtype="float32")

    ds = tf.data.Dataset.from_tensor_slices(tokens)
    return ds.batch(batch_size, drop_remainder=True).repeat().map(to_batch)


def run(workdir, steps=40, checkpoints=4, seed=7, step_delay=0.0, batch_size=8,
        seq_len=16):
    import keras

    from keras_pn.models import GPTBackbone
    from keras_pn.models import GPTCausalLM
    from keras_pn.testing import TINY_GPT
    from keras_pn.training import compile_for_training
    from keras_pn.training import train

    class Pace(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            time.sleep(step_delay)

    keras.utils.set_random_seed(seed)
    model = GPTCausalLM(GPTBackbone(**TINY_GPT))
    compile_for_training(model, learning_rate=1e-2, total_steps=steps, warmup_steps=4)
    return train(
        model,
        stream(seed, batch_size, seq_len, TINY_GPT["vocabulary_size"]),
        total_steps=steps,
        workdir=workdir,
        tokens_per_step=batch_size * seq_len,
        checkpoints=checkpoints,
        tensorboard=False,
        verbose=0,
        callbacks=[Pace()] if step_delay else [],
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--checkpoints", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--step_delay", type=float, default=0.0)
    args = parser.parse_args()
    result = run(args.workdir, args.steps, args.checkpoints, args.seed, args.step_delay)
    print("RESULT " + json.dumps(result.to_json()), flush=True)


if __name__ == "__main__":
    main()
