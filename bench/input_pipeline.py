"""Input pipeline throughput vs a tiny model's training consumption.

Measures, in one process and alternating repetitions (medians, as these machines are
noisy):

* the importance-resampled tf.data stream (``keras_pn.data.streams.resampled_dataset``)
  over synthetic generic shards (k = 32 clusters, a concentrated target histogram),
  consumed as NumPy batches the way ``model.fit`` consumes a tf.data dataset on jax and
  torch — tokens/s;
* a tiny model's training step on one fixed in-memory batch — tokens/s. The model is
  ``keras_pn.models.GPTCausalLM.from_preset("slm_tiny")`` when it is available,
  otherwise a stand-in: a keras-hub ``GPT2Backbone`` (4 layers, width 128, 8k
  vocabulary) with a tied head;

and prints ``RATIO input_pipeline_over_training <value>`` (goal >= 10).

Usage::

    python -m bench.input_pipeline --quick --backend=jax
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--backend",
        default=os.environ.get("KERAS_BACKEND", "jax"),
        choices=["jax", "tensorflow", "torch"],
    )
    parser.add_argument(
        "--quick", action="store_true", help="finish in under 2 minutes"
    )
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument(
        "--context_length",
        type=int,
        default=None,
        help="default: the model's sequence length, else 256",
    )
    parser.add_argument("--clusters", type=int, default=32)
    parser.add_argument(
        "--windows", type=int, default=None, help="synthetic generic windows"
    )
    parser.add_argument("--repeats", type=int, default=None)
    return parser.parse_args(argv)


def build_model(context_length):
    """Returns (model, name, vocabulary_size, context_length)."""
    import keras

    try:
        from keras_pn.models import GPTCausalLM

        model = GPTCausalLM.from_preset("slm_tiny", load_weights=False)
        backbone = model.backbone
        vocab = backbone.vocabulary_size
        seq = context_length or getattr(backbone, "max_sequence_length", None) or 256
        name = "keras_pn GPTCausalLM slm_tiny"
    except Exception as e:  # The models may not exist yet: use the stand-in.
        import keras_hub

        print(
            f"# slm_tiny unavailable ({type(e).__name__}: {str(e)[:80]}); using a "
            "stand-in"
        )
        vocab, seq = 8000, context_length or 256
        backbone = keras_hub.models.GPT2Backbone(
            vocabulary_size=vocab,
            num_layers=4,
            num_heads=4,
            hidden_dim=128,
            intermediate_dim=512,
            max_sequence_length=seq,
            dropout=0.0,
        )
        model = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
        name = "keras-hub GPT2CausalLM stand-in (4 layers, width 128)"
    model.compile(
        optimizer=keras.optimizers.Adam(1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=[],
    )
    return model, name, vocab, seq


def write_synthetic_shards(
    directory, num_windows, num_clusters, context_length, vocab, seed=0
):
    import numpy as np

    from keras_pn.data.shards import ShardWriter

    rng = np.random.default_rng(seed)
    with ShardWriter(
        directory, num_clusters, context_length, tokenizer_sha256="synthetic"
    ) as w:
        clusters = rng.integers(0, num_clusters, num_windows)
        for c in clusters:
            n = (
                context_length
                if rng.random() < 0.7
                else int(rng.integers(1, context_length))
            )
            body = rng.integers(4, vocab, n)
            w.add(np.concatenate([[2], body, [3] if n < context_length else []]), c)
    return np.bincount(clusters, minlength=num_clusters)


def main(argv=None):
    args = parse_args(argv)
    os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np

    from keras_pn.data.streams import effective_sample_size, resampled_dataset

    repeats = args.repeats or (3 if args.quick else 5)
    pipeline_batches = 100 if args.quick else 400
    train_steps = 2 if args.quick else 10
    model, model_name, vocab, seq = build_model(args.context_length)
    num_windows = args.windows or (2000 if args.quick else 20000)
    batch = args.batch_size

    with tempfile.TemporaryDirectory() as tmp:
        shard_dir = os.path.join(tmp, "shards")
        t0 = time.perf_counter()
        sizes = write_synthetic_shards(
            shard_dir, num_windows, args.clusters, seq, vocab
        )
        write_s = time.perf_counter() - t0
        target = np.random.default_rng(1).dirichlet(np.full(args.clusters, 0.3))
        t0 = time.perf_counter()
        ds = resampled_dataset(shard_dir, target, batch, seq, seed=0)
        build_s = time.perf_counter() - t0
        stream = iter(ds.as_numpy_iterator())
        for _ in range(10):  # warm-up: tracing, prefetch threads
            next(stream)

        x, y, w = next(stream)
        x_model = {"token_ids": x["token_ids"], "padding_mask": x["padding_mask"]}
        t0 = time.perf_counter()
        model.train_on_batch(x_model, y, sample_weight=w)  # compile / first step
        first_step_s = time.perf_counter() - t0

        pipeline_tps, train_tps = [], []
        for _ in range(repeats):  # alternate the two sides
            t0 = time.perf_counter()
            for _ in range(pipeline_batches):
                next(stream)
            pipeline_tps.append(
                pipeline_batches * batch * seq / (time.perf_counter() - t0)
            )
            t0 = time.perf_counter()
            for _ in range(train_steps):
                logs = model.train_on_batch(x_model, y, sample_weight=w)
            # Wait for the last step to finish.
            float(np.asarray(logs if np.ndim(logs) == 0 else logs[0]))
            train_tps.append(train_steps * batch * seq / (time.perf_counter() - t0))

    pipeline = statistics.median(pipeline_tps)
    training = statistics.median(train_tps)
    print(
        f"# backend {keras.config.backend()}, model {model_name}, "
        f"{model.count_params() / 1e6:.2f}M parameters, batch {batch} x {seq} tokens"
    )
    print(
        f"# shards: {num_windows} synthetic windows in {args.clusters} clusters "
        f"written in {write_s:.1f} s; stream built in {build_s:.2f} s; effective "
        f"sample size {effective_sample_size(target, sizes):.0f} windows"
    )
    print(f"# first training step (compile) {first_step_s:.1f} s")
    print(
        f"# input pipeline {pipeline:,.0f} tokens/s (runs: "
        f"{', '.join(f'{v:,.0f}' for v in pipeline_tps)})"
    )
    print(
        f"# training       {training:,.0f} tokens/s (runs: "
        f"{', '.join(f'{v:,.0f}' for v in train_tps)})"
    )
    print(f"RATIO input_pipeline_over_training {pipeline / training:.1f}")
    return pipeline / training


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
