"""Tests of keras_pn.data.cluster_stats."""

import json
import math

import numpy as np
import pytest

from keras_pn.data.cluster_stats import (
    cluster_histogram,
    domain_stats,
    format_table,
    stats_from_counts,
    write_domain_stats,
    write_stats_table,
)

pytestmark = pytest.mark.backend_agnostic  # no Keras backend involved

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_statistics_of_a_known_histogram():
    labels = np.array([0, 0, 0, 0, 1, 1, 3, 3])  # shares 1/2, 1/4, 0, 1/4
    s = domain_stats(labels, 4, name="toy")
    assert s["counts"] == [4, 2, 0, 2]
    assert s["n_items"] == 8 and s["n_nonempty"] == 3
    assert s["top_cluster"] == 0 and s["top_share"] == 0.5
    assert s["entropy_bits"] == pytest.approx(1.5)
    assert s["entropy_nats"] == pytest.approx(1.5 * math.log(2))
    assert s["effective_clusters"] == pytest.approx(2**1.5)
    assert s["max_entropy_bits"] == 2.0
    assert s["normalized_entropy"] == pytest.approx(0.75)


def test_uniform_and_degenerate_histograms():
    uni = stats_from_counts(np.full(16, 5))
    assert uni["entropy_bits"] == pytest.approx(4.0) and uni[
        "normalized_entropy"
    ] == pytest.approx(1)
    one = stats_from_counts([0, 7, 0])
    assert (
        one["entropy_nats"] == 0.0
        and one["top_share"] == 1.0
        and one["top_cluster"] == 1
    )
    # A one-cluster histogram prints "0.00" bits, not "-0.00" (-(1 * log 1) is -0.0).
    assert f"{one['entropy_bits']:.2f}" == "0.00"
    empty = stats_from_counts([0, 0])
    assert empty["top_cluster"] is None and empty["entropy_bits"] == 0.0


def test_histogram_errors():
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        cluster_histogram([0, 4], 4)
    with pytest.raises(ValueError, match="integer"):
        cluster_histogram(np.array([0.5]), 4)
    assert cluster_histogram([], 3).tolist() == [0, 0, 0]


def test_write_domain_stats(tmp_path):
    labels = np.random.default_rng(0).integers(0, 32, size=500)
    s = write_domain_stats(labels, 32, tmp_path / "out", "pubmed abstracts")
    stored = json.loads((tmp_path / "out" / "pubmed_abstracts.json").read_text())
    assert stored["name"] == "pubmed abstracts" and sum(stored["counts"]) == 500
    assert stored["top_share"] == s["top_share"]
    assert (tmp_path / "out" / "pubmed_abstracts.png").read_bytes()[:8] == _PNG_MAGIC


def test_write_stats_table(tmp_path):
    rng = np.random.default_rng(1)
    domains = {
        "arxiv": rng.choice(16, size=400, p=rng.dirichlet(np.full(16, 0.1))),
        "wikipedia": rng.integers(0, 16, size=400),
    }
    rows = write_stats_table(domains, 16, tmp_path, name="k16")
    assert [r["name"] for r in rows] == ["arxiv", "wikipedia"]
    assert rows[0]["entropy_bits"] < rows[1]["entropy_bits"]
    payload = json.loads((tmp_path / "k16.json").read_text())
    assert payload["n_clusters"] == 16 and len(payload["domains"]) == 2
    md = (tmp_path / "k16.md").read_text()
    assert md == format_table(rows) and "| wikipedia |" in md
    assert (tmp_path / "k16.png").read_bytes()[:8] == _PNG_MAGIC
    with pytest.raises(ValueError, match="empty"):
        write_stats_table({}, 16, tmp_path)
