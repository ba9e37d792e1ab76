"""A five-minute end-to-end run: pretrain a projected network, export an expert.

The text is the docstrings of Python's standard library, read from source
with `ast` (nothing is imported, nothing downloaded); the experts are its
module families. The run pretrains `pn_tiny` (byte tokens) on single-family
batches, projects the expert of the largest family into a plain GPT, checks
that the two agree, saves the expert as a preset and generates from it.

Usage:
    python -m recipes.quickstart --workdir=runs/quickstart
"""

import ast
import json
import logging
import os
import sysconfig
import time

import keras
import numpy as np

from keras_pn.models import GPTByteTokenizer
from keras_pn.models import GPTCausalLM
from keras_pn.models import ProjectedGPT
from keras_pn.models import ProjectedGPTCausalLMPreprocessor

logger = logging.getLogger(__name__)


def stdlib_documents(max_modules=None):
    """`[(family, text)]`: the docstrings of each standard-library module."""
    root = sysconfig.get_paths()["stdlib"]
    documents = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d for d in dirnames if d not in ("test", "tests", "idlelib", "site-packages")
        )
        for filename in sorted(filenames):
            if not filename.endswith(".py"):
                continue
            path = os.path.join(dirpath, filename)
            rel = os.path.relpath(path, root)
            family = rel.split(os.sep)[0].removesuffix(".py").lstrip("_")
            try:
                with open(path, encoding="utf-8") as f:
                    tree = ast.parse(f.read())
            except (SyntaxError, UnicodeDecodeError, ValueError):
                continue
            docs = [
                ast.get_docstring(node)
                for node in ast.walk(tree)
                if isinstance(
                    node,
                    (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef),
                )
            ]
            text = "\n\n".join(d for d in docs if d)
            if len(text) > 200:
                documents.append((family, text))
            if max_modules and len(documents) >= max_modules:
                return documents
    return documents


def byte_windows(documents, sequence_length, num_experts):
    """Cut documents into byte windows; cluster = family rank mod `num_experts`."""
    families = sorted({f for f, _ in documents}, key=lambda f: -sum(len(t) for g, t in documents if g == f))
    cluster_of = {f: i % num_experts for i, f in enumerate(families)}
    windows, clusters = [], []
    for family, text in documents:
        data = text.encode("utf-8")
        for start in range(0, len(data) - 32, sequence_length):
            chunk = list(data[start : start + sequence_length])
            windows.append(chunk + [0] * (sequence_length + 1 - len(chunk)))
            clusters.append(cluster_of[family])
    return np.array(windows, "int32"), np.array(clusters, "int32"), families


def single_cluster_batches(clusters, batch_size, rng):
    """Index batches in which every example shares one cluster."""
    batches = []
    for c in np.unique(clusters):
        idx = rng.permutation(np.flatnonzero(clusters == c))
        for start in range(0, len(idx) - batch_size + 1, batch_size):
            batches.append(idx[start : start + batch_size])
    rng.shuffle(batches)
    return batches


def run_quickstart(workdir, steps=150, batch_size=16, sequence_length=128, seed=0):
    """Pretrain `pn_tiny` on stdlib docstrings, project an expert, generate.

    Returns:
        dict of what was measured (losses, parity, sample), also written to
        `workdir/quickstart.json`.
    """
    os.makedirs(workdir, exist_ok=True)
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    t0 = time.time()
    documents = stdlib_documents()
    logger.info("Read %d standard-library modules (%.1f MB of docstrings)",
                len(documents), sum(len(t) for _, t in documents) / 1e6)

    preprocessor = ProjectedGPTCausalLMPreprocessor(
        GPTByteTokenizer(), sequence_length=sequence_length
    )
    pn = ProjectedGPT.from_preset(
        "pn_tiny",
        load_weights=False,
        vocabulary_size=256,
        max_sequence_length=sequence_length,
    )
    num_experts = pn.backbone.num_experts
    windows, clusters, families = byte_windows(documents, sequence_length, num_experts)
    logger.info("%d windows of %d bytes over %d experts; %s parameters",
                len(windows), sequence_length, num_experts, f"{pn.count_params():,}")

    pn.compile(
        optimizer=keras.optimizers.Adam(1e-3, global_clipnorm=5.0),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=[],
    )
    batches = single_cluster_batches(clusters, batch_size, rng)
    progress = keras.utils.Progbar(steps, stateful_metrics=["loss"])
    losses = []
    for step in range(steps):
        idx = batches[step % len(batches)]
        tokens = windows[idx]
        x = {
            "token_ids": tokens[:, :-1],
            "padding_mask": (tokens[:, :-1] != 0).astype("int32"),
            "cluster_ids": clusters[idx],
        }
        loss = pn.train_on_batch(x, tokens[:, 1:], sample_weight=(tokens[:, 1:] != 0))
        losses.append(float(np.asarray(loss).ravel()[0]))
        progress.update(step + 1, [("loss", losses[-1])])

    expert = int(np.bincount(clusters, minlength=num_experts).argmax())
    pn.preprocessor = preprocessor  # trained on token ids; text in from here on
    slm = pn.project(expert=expert)
    check = windows[:4, :-1]
    inputs = {"token_ids": check, "padding_mask": np.ones_like(check)}
    parity = float(
        np.abs(
            keras.ops.convert_to_numpy(pn(dict(inputs, cluster_ids=np.full(4, expert, "int32"))))
            - keras.ops.convert_to_numpy(slm(inputs))
        ).max()
    )
    preset_dir = os.path.join(workdir, f"expert_{expert}")
    slm.save_to_preset(preset_dir)
    restored = GPTCausalLM.from_preset(preset_dir)
    restored.compile(sampler="greedy")
    prompt = "Return the "
    sample = restored.generate(prompt, max_length=64)
    results = {
        "backend": keras.config.backend(),
        "steps": steps,
        "tokens_seen": steps * batch_size * sequence_length,
        "first_loss": losses[0],
        "last_loss": float(np.mean(losses[-10:])),
        "expert": expert,
        "expert_family": families[expert],
        "pn_parameters": int(pn.backbone.count_params()),
        "expert_parameters": int(slm.backbone.count_params()),
        "projection_max_abs_logit_diff": parity,
        "preset": preset_dir,
        "prompt": prompt,
        "sample": sample,
        "seconds": round(time.time() - t0, 1),
    }
    with open(os.path.join(workdir, "quickstart.json"), "w") as f:
        json.dump(results, f, indent=2)
    return results
