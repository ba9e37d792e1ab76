"""Tiny inputs and subprocess plumbing shared by the reliability tests.

Everything is built in a temporary directory in seconds: no test reads the
corpora under ~/.cache/keras_pn or touches the network.
"""

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ("jax", "tensorflow", "torch")

# ---- corpora --------------------------------------------------------------------

TOPICS = [
    "river water fish boat bank stream flood shore rain lake wave tide".split(),
    "engine gear motor piston wheel valve shaft fuel torque brake clutch axle".split(),
    "violin piano melody chord rhythm tempo opera choir sonata drum flute harp".split(),
    "protein enzyme cell gene membrane tissue neuron cortex plasma insulin dna".split(),
]


def write_jsonl(path, texts):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for text in texts:
            f.write(json.dumps({"text": text}) + "\n")
    return path


def _doc(rng, topic, n_words):
    return " ".join(rng.choice(TOPICS[topic], size=n_words)) + "."


def tiny_corpus(root, seed=0):
    """A generic mix of 120 short documents and one domain, `rivers`."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    write_jsonl(
        root / "generic" / "shard-00000.jsonl",
        [_doc(rng, i % 4, int(rng.integers(10, 40))) for i in range(120)],
    )
    domain = root / "rivers"
    write_jsonl(
        domain / "train.jsonl",
        [_doc(rng, 0, int(rng.integers(30, 80))) for _ in range(20)],
    )
    for split in ("valid", "test"):
        write_jsonl(domain / f"{split}.jsonl", [_doc(rng, 0, 40) for _ in range(3)])
    return root


def domain_dir(root, name, train_lines, valid=("a valid document.",), test=None):
    """A domain directory whose train.jsonl holds `train_lines` (bytes or str)."""
    directory = Path(root) / name
    directory.mkdir(parents=True, exist_ok=True)
    data = b"".join(
        line if isinstance(line, bytes) else (json.dumps({"text": line}) + "\n").encode()
        for line in train_lines
    )
    (directory / "train.jsonl").write_bytes(data)
    write_jsonl(directory / "valid.jsonl", valid)
    write_jsonl(directory / "test.jsonl", test or valid)
    return directory


def prepare_args(corpus_root, **overrides):
    """`(PrepareConfig, {"generic_dir", "domain_dirs"})` of the tiny corpus: call
    `prepare_data(workdir, config, **dirs)`."""
    from keras_pn.data.prepare import PrepareConfig

    corpus_root = Path(corpus_root)
    dirs = dict(
        generic_dir=corpus_root / "generic", domain_dirs={"rivers": corpus_root / "rivers"}
    )
    knobs = dict(
        vocabulary_size=300,
        context_length=32,
        embedder="hashed",
        cluster_counts=(4,),
        specialization_tokens=(600,),
        progress=False,
        kmeans_iterations=4,
    )
    for key in dirs:
        if key in overrides:
            dirs[key] = overrides.pop(key)
    knobs.update(overrides)
    return PrepareConfig(**knobs), dirs


def snapshot(root):
    """{relative path: (size, mtime_ns)} of every file under `root` ({} if absent)."""
    root = Path(root)
    out = {}
    if not root.exists():
        return out
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            st = os.stat(path)
            out[os.path.relpath(path, root)] = (st.st_size, st.st_mtime_ns)
    return out


# ---- fake registry (the corpus builder's fetchers, offline) ---------------------


def tgz(files):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def cookies(prefix, n=40):
    """`n` fortune cookies that share no 13-word window with each other."""
    return "\n%\n".join(
        f"{prefix} cookie {i}: " + " ".join(f"w{i}x{j}" for j in range(40))
        for i in range(n)
    )


class FakeRegistry:
    """Serves planted archives by package name (monkeypatched into `fetch.FETCHERS`)."""

    def __init__(self):
        self.archives = {}
        self.calls = 0

    def add(self, package, data):
        self.archives[package] = data
        return hashlib.sha256(data).hexdigest()

    def __call__(self, source, workdir):
        self.calls += 1
        (Path(workdir) / f"{source.package}-{source.version}.tgz").write_bytes(
            self.archives[source.package]
        )


def source_row(registry, package="tiny-quotes", text=None, sha256=None):
    """A `Source` row served by `registry`; `sha256` overrides the true pin."""
    from keras_pn.data.corpora.sources import Source

    real = registry.add(
        package, tgz({"package/fortunes/quotes": (text or cookies(package)).encode()})
    )
    return Source(
        name=package,
        dataset="tiny",
        registry="npm",
        package=package,
        version="1.0.0",
        sha256=sha256 or real,
        format="fortune",
        include=("package/fortunes/*",),
        split_by="cookie",
    )


# ---- determinism inputs ---------------------------------------------------------

DET_K = 8
DET_CONTEXT = 16
DET_EXAMPLES = 10_000


def blobs(seed=0, k=DET_K, per_cluster=80, dim=16):
    """Well separated Gaussian blobs (float32), shuffled: `(k * per_cluster, dim)`."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, dim)) * 4.0
    x = np.concatenate(
        [c + 0.05 * rng.normal(size=(per_cluster, dim)) for c in centers]
    )
    return x[rng.permutation(len(x))].astype("float32")


def token_windows(n, context_length=DET_CONTEXT, seed=0):
    """`n` windows `[bos] + ids (+ [eos])` of 2..context_length+1 ids."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        length = int(rng.integers(1, context_length + 1))
        ids = [2] + rng.integers(4, 256, size=length).tolist()
        if length < context_length:
            ids.append(3)
        out.append(np.asarray(ids, np.int64))
    return out


def labels_sha256(labels):
    return hashlib.sha256(np.asarray(labels, np.int64).tobytes()).hexdigest()


def stream_sha256(dataset, num_examples=DET_EXAMPLES):
    """sha256 of the token ids and cluster ids of a stream's first examples."""
    digest = hashlib.sha256()
    seen = 0
    for x, y, w in dataset:
        ids = np.asarray(x["token_ids"], np.int32)
        take = min(len(ids), num_examples - seen)
        digest.update(ids[:take].tobytes())
        digest.update(np.asarray(x["cluster_ids"], np.int32)[:take].tobytes())
        digest.update(np.asarray(y, np.int32)[:take].tobytes())
        seen += take
        if seen >= num_examples:
            break
    assert seen == num_examples
    return digest.hexdigest()


def determinism_hashes(embeddings_path, shard_dir, seed=0):
    """Cluster, shard and resample under the running backend; return the hashes.

    k-means (keras.ops on this backend) labels the blobs; the labels shard
    synthetic windows; a domain histogram (three of the clusters) drives the
    importance-resampled stream, whose first 10k examples are hashed.
    """
    from keras_pn.data.kmeans import KMeans
    from keras_pn.data.shards import write_shards
    from keras_pn.data.streams import resampled_dataset

    x = np.load(embeddings_path)
    labels = KMeans(DET_K, n_iter=20, seed=seed, verbose=False).fit(x).labels_
    write_shards(
        shard_dir,
        token_windows(len(x), seed=seed),
        labels,
        DET_K,
        DET_CONTEXT,
        tokenizer_sha256="synthetic",
        overwrite=True,
    )
    domain = np.asarray(labels)[: len(x) // 4]
    histogram = np.bincount(domain[np.isin(domain, [0, 3, 5])], minlength=DET_K)
    ds = resampled_dataset(shard_dir, histogram, 500, DET_CONTEXT, seed=seed)
    return {
        "labels": labels_sha256(labels),
        "stream": stream_sha256(ds),
        "histogram": histogram.tolist(),
    }


# ---- subprocesses -----------------------------------------------------------------


def subprocess_env(backend):
    env = dict(os.environ)
    env.update(
        KERAS_BACKEND=backend,
        TF_CPP_MIN_LOG_LEVEL="3",
        # TF 2.21's oneDNN CPU kernels give wrong losses here; off in every child.
        TF_ENABLE_ONEDNN_OPTS="0",
        PYTHONPATH=os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p
        ),
    )
    return env


def module_command(module, *args):
    return [sys.executable, "-m", module, *map(str, args)]


def run_module(module, *args, backend, timeout=600):
    """Run `python -m module args` under `backend`; return the CompletedProcess."""
    return subprocess.run(
        module_command(module, *args),
        cwd=REPO_ROOT,
        env=subprocess_env(backend),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def last_json_line(stdout, tag):
    """The JSON payload of the last `TAG {...}` line of a child's stdout."""
    lines = [line for line in stdout.splitlines() if line.startswith(tag + " ")]
    return json.loads(lines[-1][len(tag) + 1 :]) if lines else None
