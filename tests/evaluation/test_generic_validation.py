"""Generic validation: PN with per-window expert codes and the mixture with each window's
expert equal their expert-by-expert evaluations; the record, its cache and its table."""

import json

import keras
import numpy as np
import pytest

from keras_pn.data.prepare.reader import fixed_sample
from keras_pn.data.prepare.windowsets import select_windows
from keras_pn.data.streams import domain_dataset
from keras_pn.data.windows import WindowSet
from keras_pn.evaluation import generic_validation as gv
from keras_pn.evaluation.perplexity import nll_sums
from keras_pn.evaluation.report import evaluate_workdir
from keras_pn.evaluation.report import markdown_report
from keras_pn.evaluation.report_tables import GENERIC_VALIDATION_TITLE
from keras_pn.evaluation.results import merge_fragments
from keras_pn.evaluation.results import read_generic_fragment
from keras_pn.evaluation.results import record_generic_validation
from keras_pn.evaluation.results import write_fragment
from keras_pn.evaluation.results import write_generic_fragment
from keras_pn.models import GPTBackbone
from keras_pn.models import GPTCausalLM
from keras_pn.models import ProjectedGPT
from keras_pn.models.expert_set import ExpertSet

from tests.evaluation.conftest import TINY

CONTEXT = 12  # tokens per window (the models take 16)
NUM_WINDOWS = 11


@pytest.fixture(scope="module")
def windows():
    rng = np.random.default_rng(3)
    lengths = rng.integers(3, CONTEXT + 2, NUM_WINDOWS)  # stored ids: [bos] + tokens
    values = rng.integers(2, TINY["vocabulary_size"], int(lengths.sum())).astype("int32")
    return WindowSet(
        values=values,
        row_splits=np.concatenate([[0], np.cumsum(lengths)]).astype("int64"),
        doc_index=np.arange(NUM_WINDOWS, dtype="int64"),
        window_index=np.zeros(NUM_WINDOWS, "int32"),
        texts=None,
        context_length=CONTEXT,
    )


@pytest.fixture(scope="module")
def labels():
    return np.array([2, 0, 2, 1, 3, 0, 2, 2, 1, 0, 3], "int32")  # every expert of 4


@pytest.fixture(scope="module")
def pn(tiny_pn):
    """A projected network whose experts differ clearly (random codes, mixing and
    bases); a copy of the session's, whose weight shapes are compiled already."""
    keras.utils.set_random_seed(5)
    model = ProjectedGPT.from_config(tiny_pn.get_config())
    rng = np.random.default_rng(5)
    for w in model.weights:
        if any(n in w.path for n in ("expert_embedding", "mixing", "kernel_bases")):
            w.assign(rng.normal(0, 2.0, w.shape).astype("float32"))
    return model


@pytest.fixture(scope="module")
def mixture(tmp_path_factory):
    directory = tmp_path_factory.mktemp("mix")
    for c in range(4):
        keras.utils.set_random_seed(10 + c)
        expert = GPTCausalLM(GPTBackbone(**TINY))
        expert.save_to_preset(ExpertSet.expert_directory(directory, c))
    return ExpertSet.write(directory, num_experts=4)


def _pooled(parts):
    nll, weight, tokens = (sum(p[i] for p in parts) for i in range(3))
    return nll / weight, tokens


_REFERENCE = []  # one GPT that takes each expert's weights: one compiled predict


def _numpy_nll(model, windows, rows):
    """(NLL sum, tokens) of the windows `rows`, window by window, in float64 NumPy."""
    if not _REFERENCE:
        _REFERENCE.append(GPTCausalLM(GPTBackbone(**TINY)))
    reference = _REFERENCE[0]
    reference.set_weights(model.get_weights())
    ids = np.zeros((NUM_WINDOWS, CONTEXT + 1), "int32")  # causal: right padding is inert
    for row, i in enumerate(rows):
        window = np.asarray(windows.token_ids(int(i)))
        ids[row, : len(window)] = window
    x = {"token_ids": ids[:, :-1], "padding_mask": np.ones((NUM_WINDOWS, CONTEXT), "int32")}
    logits = np.asarray(keras.ops.convert_to_numpy(reference.predict_on_batch(x)), "float64")
    total, tokens = 0.0, 0
    for row, i in enumerate(rows):
        n = len(windows.token_ids(int(i))) - 1  # targets of the window
        z = logits[row, :n] - logits[row, :n].max(-1, keepdims=True)
        log_probs = z - np.log(np.exp(z).sum(-1, keepdims=True))
        total -= float(log_probs[np.arange(n), ids[row, 1 : n + 1]].sum())
        tokens += n
    return total, tokens


def test_pn_with_per_window_codes_equals_the_evaluation_expert_by_expert(pn, windows, labels):
    result = gv.evaluate_with_codes(pn, windows, labels, batch_size=4)
    by_code, by_projection = [], []
    for expert in range(4):
        subset = select_windows(windows, np.flatnonzero(labels == expert))
        # The network with a constant code, and the expert projected to a plain GPT.
        by_code.append(nll_sums(pn, domain_dataset(subset, "valid", batch_size=4,
                                                   cluster_ids=expert)))
        by_projection.append(nll_sums(pn.project(expert=expert),
                                      domain_dataset(subset, "valid", batch_size=4)))
    tokens = int((np.diff(windows.row_splits) - 1).sum())
    for parts in (by_code, by_projection):
        nll, count = _pooled(parts)
        assert count == tokens == result["tokens"]
        np.testing.assert_allclose(result["nll"], nll, rtol=1e-4)
    assert result["windows"] == NUM_WINDOWS and result["scoring"] == "code"
    np.testing.assert_allclose(result["perplexity"], np.exp(result["nll"]), rtol=1e-9)
    # The codes matter: every window scored by expert 0 gives another number.
    one = gv.evaluate_with_codes(pn, windows, np.zeros_like(labels), batch_size=4)
    assert abs(one["nll"] - result["nll"]) > 1e-2, (one["nll"], result["nll"])


def test_the_mixture_scores_each_window_with_its_own_clusters_expert(mixture, windows, labels):
    result = gv.evaluate_by_expert(mixture, windows, labels, batch_size=4)
    parts = []
    for expert in range(4):
        rows = np.flatnonzero(labels == expert)
        nll, tokens = _numpy_nll(mixture.project(expert=expert), windows, rows)
        parts.append((nll, tokens, tokens))
        record = result["experts"][str(expert)]
        assert record["windows"] == len(rows) and record["tokens"] == tokens
        np.testing.assert_allclose(record["nll"], nll / tokens, rtol=1e-4)
    nll, tokens = _pooled(parts)
    assert result["tokens"] == tokens and result["scoring"] == "expert"
    np.testing.assert_allclose(result["nll"], nll, rtol=1e-4)
    # A plain model's evaluation is the same sum over all windows at once.
    expert0 = mixture.project(expert=0)
    plain = gv.evaluate_plain(expert0, windows, batch_size=4)
    total, count = _numpy_nll(expert0, windows, range(NUM_WINDOWS))
    np.testing.assert_allclose(plain["nll"], total / count, rtol=1e-4)


def test_bad_cluster_ids_are_clear_errors(pn, mixture, windows, labels):
    with pytest.raises(ValueError, match="must align"):
        gv.evaluate_with_codes(pn, windows, labels[:-1])
    with pytest.raises(ValueError, match="4 experts"):
        gv.evaluate_by_expert(mixture, windows, labels + 1)


# --- The plan_early step: computed once, cached in the generic fragment, reported ---------


class _HeldOut:
    """The part of `PreparedData` the generic validation reads."""

    def __init__(self, windows, labels, workdir):
        self.workdir, self._windows, self._labels = workdir, windows, labels
        self.generic_valid_windows = len(windows)
        self.info = {"units": {"windows/generic_valid": "a", "clusters/k4": "b"}}

    def generic_valid(self, k=None, max_windows=None):
        rows = fixed_sample(len(self._windows), max_windows)
        rows = np.arange(len(self._windows)) if rows is None else rows
        return select_windows(self._windows, rows), None if k is None else self._labels[rows]


def test_plan_early_records_each_pretraining_once_and_reports_it(
    tmp_path, pn, mixture, windows, labels, monkeypatch
):
    from keras_pn import plan_early
    from keras_pn.methods import RunConfig
    from keras_pn.methods import base
    from keras_pn.training.trainer import TrainResult

    keras.utils.set_random_seed(1)
    slm = GPTCausalLM(GPTBackbone(**TINY))
    run_dirs = {m: tmp_path / "pretrain" / m for m in ("slm", "pn")}
    slm.save_to_preset(str(run_dirs["slm"] / "preset"))
    pn.save_to_preset(str(run_dirs["pn"] / "preset"))
    run_dirs["mix"] = mixture.directory
    data = _HeldOut(windows, labels, tmp_path / "data")
    config = RunConfig(batch_size=4, pn_clusters=4, mix_clusters=4)
    done = TrainResult(steps=3, tokens=96, seconds=1.0, final_loss=4.1, losses=[])
    workdir = tmp_path / "run"
    write_fragment(workdir, "slm", "sea", nll=3.0, tokens=10)
    records = {}
    for method in ("slm", "pn", "mix"):
        write_generic_fragment(workdir, method, pretraining_tokens=96)
        records[method] = plan_early.generic_validation(
            method, data, str(run_dirs[method]), workdir, config, done, max_windows=8
        )
    assert [records[m]["scoring"] for m in ("slm", "pn", "mix")] == ["plain", "code", "expert"]
    assert {r["windows"] for r in records.values()} == {8}  # one fixed sample for all
    assert len({r["tokens"] for r in records.values()}) == 1
    sample = select_windows(windows, fixed_sample(NUM_WINDOWS, 8))
    expected = gv.evaluate_with_codes(pn, sample, labels[fixed_sample(NUM_WINDOWS, 8)],
                                      batch_size=4)
    np.testing.assert_allclose(records["pn"]["nll"], expected["nll"], rtol=1e-6)
    assert records["mix"]["k"] == 4
    # The pretraining's fragment is rewritten on resume: the cached record comes back
    # without scoring again; a longer pretraining scores again.
    cached = read_generic_fragment(workdir, "pn")["generic_validation"]
    write_generic_fragment(workdir, "pn", pretraining_tokens=96)

    def never(*args, **kwargs):
        raise AssertionError("scored again")

    monkeypatch.setattr(base.Method, "generic_validation", never)
    monkeypatch.setattr(type(plan_early.registry.get("pn")), "generic_validation", never)
    again = plan_early.generic_validation(
        "pn", data, str(run_dirs["pn"]), workdir, config, done, cached=cached, max_windows=8
    )
    assert again["nll"] == records["pn"]["nll"]
    assert read_generic_fragment(workdir, "pn")["generic_validation"]["nll"] == again["nll"]
    longer = TrainResult(steps=6, tokens=192, seconds=2.0, final_loss=3.9, losses=[])
    with pytest.raises(AssertionError, match="scored again"):
        plan_early.generic_validation(
            "pn", data, str(run_dirs["pn"]), workdir, config, longer, cached=cached,
            max_windows=8,
        )
    monkeypatch.undo()
    # A pretraining older than the split (a workdir of earlier code) is flagged.
    from keras_pn.data.prepare import WorkdirLayout
    from keras_pn.file_io import atomic_write_json

    data.layout = WorkdirLayout(tmp_path / "data")
    atomic_write_json(data.layout.manifest("windows/generic_valid"),
                      {"finished_at": "2999-01-01T00:00:00+00:00"})
    flagged = plan_early.generic_validation(
        "slm", data, str(run_dirs["slm"]), workdir, config, done, max_windows=8
    )
    assert flagged["pretrained_before_split"] is True
    paths = evaluate_workdir(workdir)
    assert "†: pretrained before the held-out split" in paths["text"]
    data.layout.manifest("windows/generic_valid").unlink()
    assert "pretrained_before_split" not in plan_early.generic_validation(
        "slm", data, str(run_dirs["slm"]), workdir, config, done, max_windows=8
    )
    paths = evaluate_workdir(workdir)
    results = json.loads(paths["results"].read_text())
    assert set(results["generic_validation"]) == {"slm", "pn", "mix"}
    text = paths["text"]
    assert GENERIC_VALIDATION_TITLE in text
    assert GENERIC_VALIDATION_TITLE == (
        "## Generic validation (held-out, each window by its cluster's expert)"
    )
    assert "| SLM-pn | " in text and "its cluster's expert code (k=4)" in text
    assert "| SLM-mix | " in text and "| vs. SLM |" in text


def test_the_table_marks_the_best_and_compares_with_the_slm(tmp_path):
    validation = {
        "slm": {"nll": 4.0, "tokens": 500, "windows": 20, "scoring": "plain"},
        "pn": {"nll": 3.9, "tokens": 500, "windows": 20, "scoring": "code", "k": 8},
        "mix": {"nll": 3.95, "tokens": 500, "windows": 20, "scoring": "expert", "k": 8},
        "llm": {"nll": 3.7, "tokens": 500, "windows": 20, "scoring": "plain"},
    }
    text = markdown_report(
        {"perplexity": {"slm": {"sea": 30.0}}, "generic_validation": validation}
    )
    lines = text.splitlines()
    start = lines.index(GENERIC_VALIDATION_TITLE)
    table = [line for line in lines[start:] if line.startswith("| ")]
    assert table[0] == "| Method | Perplexity | NLL | Scored by | Windows | Tokens | vs. SLM |"
    rows = {row.split(" | ")[0][2:]: row for row in table[2:]}
    assert list(rows) == ["SLM", "LLM", "SLM-mix", "SLM-pn"]  # report order
    assert rows["SLM"] == f"| SLM | {np.exp(4.0):.2f} | 4.0000 | the model | 20 | 500 | – |"
    assert f"**{np.exp(3.7):.2f}**" in rows["LLM"]  # the best
    assert rows["SLM-pn"].endswith(f"| {np.exp(-0.1) - 1:+.1%} |")  # below the SLM
    assert "its cluster's expert (k=8)" in rows["SLM-mix"]
    # Through fragments: the record lands in results["generic_validation"].
    write_fragment(tmp_path, "slm", "sea", nll=3.0, tokens=10)
    write_generic_fragment(tmp_path, "slm", pretraining_tokens=100)
    record_generic_validation(tmp_path, "slm", validation["slm"])
    merged = merge_fragments(tmp_path)
    assert merged["generic_validation"]["slm"]["perplexity"] == pytest.approx(np.exp(4.0))
    with pytest.raises(ValueError, match="finite"):
        record_generic_validation(tmp_path, "slm", {"nll": float("nan"), "tokens": 3})
    with pytest.raises(FileNotFoundError, match="no generic fragment"):
        record_generic_validation(tmp_path, "llm", validation["llm"])
    assert "Generic validation" not in markdown_report({"perplexity": {"slm": {"sea": 3.0}}})
