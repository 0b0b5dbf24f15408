"""Smoke test of the benchmark (bench/run.py) on 20 articles with the fast hash embedder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.run import DATA, run_benchmark, table

pytestmark = pytest.mark.skipif(not DATA.exists(), reason=f"shared data file {DATA} absent")


def test_bench_smoke(tmp_path):
    res = run_benchmark(20, model="hash", cache=tmp_path / "cache", questions=10, quality_n=20,
                        raw_sample=50, log=lambda _: None)
    res = json.loads(json.dumps(res))  # the result is JSON-ready
    assert {"build", "incremental", "query", "cold_start", "targets"} <= res.keys()
    b = res["build"]
    assert res["n_articles"] == 20 and b["documents"] == 20
    assert b["chunks"] >= 20 and b["embedded"] == b["chunks"]
    assert b["chunks_per_s"] > 0 and b["raw_chunks_per_s"] > 0 and b["ratio_pipeline_vs_raw"] > 0
    assert b["peak_rss_mb"] > 10 and 0 < b["bytes_per_chunk"] < 1e6
    inc = res["incremental"]
    assert inc["nochange_embedded"] == 0 and not inc["nochange_changed"]
    assert inc["edited_documents"] == 1 and inc["edit_replaced"] == 1
    assert 1 <= inc["edit_embedded"] <= 3
    q = res["query"]
    assert q["questions"] == 10
    for key in ("retrieve", "compose", "verify", "total", "compose_embedding"):
        assert 0 <= q["latency_ms"][key]["p50"] <= q["latency_ms"][key]["p95"]
    for mode in ("dense", "bm25", "hybrid"):
        m = q["quality"][mode]
        assert m["n"] == 20
        assert 0 <= m["recall@1"] <= m["recall@5"] <= m["recall@10"] <= 1
        assert 0 <= m["mrr@10"] <= 1
    assert q["quality"]["hybrid"]["recall@10"] >= 0.8  # each summary finds its own article
    f = q["faiss"]
    assert f["n_vectors"] == b["chunks"]
    assert all(0 <= h["recall@10_vs_exact"] <= 1 for h in f["hnsw"])
    assert res["cold_start"]["process_wall_s"] > 0
    assert set(res["targets"]) >= {"build_vs_raw_chunks>=0.9", "pipeline_vs_raw>=0.9",
                                   "cold_start<=2s", "warm_ask_p50<=50ms"}
    assert b["ratio_build_vs_raw_chunks"] > 0 and b["engine_chunks_per_s"] > 0
    # every sentence was embedded at build time, none at question time
    assert b["sentences_embedded"] > b["chunks"] and b["texts_embedded"] > b["embedded"]
    assert q["compose_sentences_embedded_mean"] == 0
    assert 0 < inc["edit_sentences_embedded"] <= 3
    assert "| full build |" in table(res)


def test_bm25_budget_bench_compares_budgets_side_by_side(
    hash_index: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``bench.bm25_budget`` on a small index, its budget lowered so that it bites."""
    import rag.store
    from bench.bm25_budget import main

    before = rag.store.BM25_MAX_POSTINGS
    out = tmp_path / "b.json"
    try:
        assert main(["--tier", "1k", "--queries", "4", "--budgets", "0,2", "--model", "hash",
                     "--index", str(hash_index), "--out", str(out)]) == 0
    finally:
        rag.store.BM25_MAX_POSTINGS = before
    res = json.loads(out.read_text())
    assert set(res["results"]) == {"0", "2"} and res["queries"] == 4
    for per in res["results"].values():
        for m in per.values():
            assert 0 < m["bm25_query_ms_p50"] <= m["bm25_query_ms_p95"]
            assert 0 <= m["hybrid"]["recall@1"] <= m["hybrid"]["recall@10"] <= 1
    assert "| summary (" in capsys.readouterr().out
