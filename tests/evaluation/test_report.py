"""Result fragments, their merge, the markdown report, the plots and the recipe."""

import json
import math

import pytest

from keras_pn.evaluation.report import evaluate_workdir
from keras_pn.evaluation.report import markdown_report
from keras_pn.evaluation.report import total_cost_from_summary
from keras_pn.evaluation.report import write_report
from keras_pn.evaluation.results import load_results
from keras_pn.evaluation.results import merge_fragments
from keras_pn.evaluation.results import write_fragment
from keras_pn.evaluation.results import write_generic_fragment
from keras_pn.evaluation.results import write_json

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DOMAINS = ("arxiv", "europarl")
NLL = {"slm": 3.0, "llm": 2.5, "pn": 2.9, "is": 2.8, "llm_lora": 2.6, "slm_nopt": 4.0}


def entry(phase, flops, tokens=100, seconds=1.0):
    return {
        "phase": phase,
        "tokens": tokens,
        "flops": flops,
        "seconds": seconds,
        "device": "CPU: test (jax)",
    }


def make_workdir(root, sizes=(25_000,), size_in_name=False):
    for method, flops in (("slm", 100.0), ("llm", 600.0), ("pn", 110.0)):
        write_generic_fragment(
            root,
            method,
            pretraining_tokens=5_000_000,
            cost=[entry("pretrain", flops, seconds=flops)],
        )
    for size in sizes:
        for method, nll in NLL.items():
            for i, domain in enumerate(DOMAINS):
                cost = [entry("finetune", 1.0 + i, tokens=size)]
                if method == "is":
                    cost.insert(0, entry("pretrain_is", 100.0))
                before = {"nll": nll + 0.5, "tokens": 50} if method == "slm" else None
                write_fragment(
                    root,
                    method,
                    domain,
                    nll=nll + 0.2 * i - 0.01 * math.log(size),
                    tokens=50,
                    specialization_tokens=size,
                    size_in_name=size_in_name,
                    cost=cost,
                    before_finetuning=before,
                    info={"seed": 0},
                )
    return root


def test_fragments_merge_into_results(tmp_path):
    make_workdir(tmp_path)
    results = merge_fragments(tmp_path)
    assert results["methods"] == ["slm", "slm_nopt", "llm", "pn", "is", "llm_lora"]
    assert results["domains"] == list(DOMAINS)
    nll_a, nll_b = 3.0 - 0.01 * math.log(25_000), 3.2 - 0.01 * math.log(25_000)
    assert results["perplexity"]["slm"]["arxiv"] == pytest.approx(math.exp(nll_a))
    # Macro: exp of the mean NLL over domains.
    assert results["macro"]["slm"] == pytest.approx(math.exp((nll_a + nll_b) / 2))
    assert results["budgets"]["pretraining_tokens"] == 5_000_000
    assert results["budgets"]["specialization_tokens"] == 25_000
    cost = results["cost"]
    # LLM-LoRA inherits the LLM's pretraining (paper convention).
    assert cost["llm_lora"]["generic"]["flops"] == 600.0
    assert cost["llm_lora"]["specialization"]["flops"] == 1.5  # mean of 1 and 2
    # SLM-is pretrains per domain: specialization, and pretraining on the plots.
    assert cost["is"]["generic"]["flops"] == 0.0
    assert cost["is"]["specialization"]["flops"] == 101.5
    assert cost["is"]["pretraining_flops"] == 100.0
    assert total_cost_from_summary(cost["is"], 10) == pytest.approx(1015.0)
    assert total_cost_from_summary(cost["slm"], 10) == pytest.approx(115.0)
    assert results["macro_before_finetuning"]["slm"] == pytest.approx(math.exp(3.5))
    json.dumps(results)  # serializable


def test_evaluate_workdir_writes_json_markdown_and_plots(tmp_path):
    make_workdir(tmp_path)
    paths = evaluate_workdir(tmp_path)
    for name in (
        "macro_vs_pretraining_cost",
        "perplexity_per_domain",
        "total_cost_vs_domains",
    ):
        data = paths[name].read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000, name
    assert "perplexity_vs_specialization_tokens" not in paths  # one size only
    text = paths["markdown"].read_text()
    assert "**Pretraining budget**: 5M tokens per pretrained model." in text
    assert (
        "**Specialization sets**: 25k tokens per domain; "
        "pretraining / largest set = 200x." in text
    )
    assert "| Method | arxiv | europarl | Macro | Generic FLOPs |" in text
    assert "| SLM-is |" in text and "| LLM-LoRA |" in text and "| SLM-nopt |" in text
    assert "C_total(2) FLOPs" in text
    assert "## Before fine-tuning" in text
    assert "![macro vs pretraining cost](macro_vs_pretraining_cost.png)" in text
    saved = json.loads(paths["results"].read_text())
    assert saved["macro"] == pytest.approx(merge_fragments(tmp_path)["macro"])
    # The written results.json reads back (source=json) to the same report.
    again = load_results(tmp_path, source="json")
    for method, per_domain in saved["perplexity"].items():
        assert again["perplexity"][method] == pytest.approx(per_domain)


def test_specialization_size_sweep(tmp_path):
    make_workdir(tmp_path, sizes=(25_000, 200_000), size_in_name=True)
    write_json(
        tmp_path / "results" / "_budgets.json",
        {"specialization_tokens": 200_000, "context_length": 256},
    )
    results = merge_fragments(tmp_path)
    assert results["budgets"]["primary_specialization_tokens"] == 200_000
    assert results["budgets"]["specialization_tokens"] == [25_000, 200_000]
    by_size = results["by_specialization_tokens"]
    assert set(by_size) == {"25000", "200000"}
    assert by_size["25000"]["macro"]["slm"] > by_size["200000"]["macro"]["slm"]
    # Each size pays its own specialization cost.
    assert by_size["200000"]["cost"]["slm"]["specialization"]["tokens"] == 200_000
    paths = write_report(results, tmp_path / "report")
    assert (
        paths["perplexity_vs_specialization_tokens"].read_bytes().startswith(PNG_MAGIC)
    )
    text = paths["markdown"].read_text()
    assert "25k / 200k tokens per domain (main table: 200k)" in text
    assert "## Macro perplexity by specialization-set size" in text
    assert "- Context length: 256." in text


def test_results_json_without_costs(tmp_path):
    results = {"perplexity": {"slm": {"a": 20.0, "b": 30.0}, "llm": {"a": 15.0}}}
    write_json(tmp_path / "results.json", results)
    paths = evaluate_workdir(tmp_path, output_dir=tmp_path / "out")
    assert set(paths) == {"results", "markdown", "perplexity_per_domain", "text"}
    text = paths["text"]
    assert "| LLM | **15.00** | – | **15.00*** |" in text  # * : misses a domain
    assert "Pretraining budget**: not recorded" in text
    assert markdown_report(results) == markdown_report(
        json.loads((tmp_path / "out" / "results.json").read_text())
    )


def test_fragment_errors(tmp_path):
    with pytest.raises(ValueError, match="Invalid domain"):
        write_fragment(tmp_path, "slm", "_generic", nll=1.0, tokens=1)
    with pytest.raises(ValueError, match="not finite"):
        write_fragment(tmp_path, "slm", "a", nll=float("nan"), tokens=1)
    with pytest.raises(ValueError, match="phase"):
        write_fragment(tmp_path, "slm", "a", nll=1.0, tokens=1, cost=[{"flops": 1.0}])
    with pytest.raises(FileNotFoundError, match="neither"):
        load_results(tmp_path)
    path = write_fragment(tmp_path, "slm", "a", nll=1.0, tokens=1)
    path.rename(path.with_name("b.json"))
    with pytest.raises(ValueError, match="file name"):
        merge_fragments(tmp_path)


def test_recipe_main(tmp_path, capsys):
    from absl import flags

    from recipes import evaluate

    write_json(
        tmp_path / "results.json",
        {"perplexity": {"slm": {"a": 20.0}, "pn": {"a": 18.0}}},
    )
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["evaluate", f"--workdir={tmp_path}", "--cost_field=seconds"])
    try:
        evaluate.main([])
    finally:
        flags.FLAGS.unparse_flags()
    out = capsys.readouterr().out
    assert "# Specialized language models: results" in out
    assert "| SLM-pn | **18.00** | **18.00** |" in out
    assert (tmp_path / "results.md").is_file()
    assert (tmp_path / "perplexity_per_domain.png").is_file()
