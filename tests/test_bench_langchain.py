"""Smoke test of bench/langchain_compare.py: rag and the LangChain recipe on 20 articles and
10 known-item queries, with the real all-MiniLM-L6-v2 (four subprocesses, ~1-2 minutes)."""

from __future__ import annotations

import json
import math

import pytest

from bench.run import DATA

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(not DATA.exists(), reason=f"shared data file {DATA} absent"),
]
pytest.importorskip("langchain_community")
pytest.importorskip("langchain_text_splitters")

BUILD_KEYS = {
    "documents", "chunks", "setup_s", "seconds", "embedded_texts", "embedded_chars",
    "embedded_mean_chars", "index_bytes", "peak_rss_mb", "articles_per_s", "chunks_per_s",
    "embedded_texts_per_s", "embedded_chars_per_s", "seconds_incl_setup",
    "articles_per_s_incl_setup",
}
QUALITY_KEYS = {"recall@1", "recall@5", "recall@10", "mrr@10"}


def test_langchain_compare_smoke(tmp_path):
    from bench.langchain_compare import done_when, ratios, run_compare, table

    lines: list[str] = []
    res = run_compare(20, queries=10, ask_queries=5, work=tmp_path, log=lines.append)
    res = json.loads(json.dumps(res))  # the result is JSON-ready
    assert res["n_articles"] == 20 and res["n_queries"] == 10
    assert len(lines) == 8  # a start and an end line per phase

    for side in ("rag", "langchain"):
        b, q = res[side]["build"], res[side]["query"]
        assert b.keys() >= BUILD_KEYS, side
        assert all(math.isfinite(b[k]) and b[k] > 0 for k in BUILD_KEYS), (side, b)
        assert b["documents"] == 20 and b["chunks"] >= 20
        assert b["articles_per_s"] == pytest.approx(20 / b["seconds"])
        assert q["quality"].keys() >= QUALITY_KEYS and q["quality"]["n"] == 10
        m = q["quality"]
        assert 0 <= m["recall@1"] <= m["recall@5"] <= m["recall@10"] <= 1
        assert m["recall@5"] >= 0.8, (side, m)  # each summary finds its own article
        assert 0 < q["retrieval_ms"]["p50"] <= q["retrieval_ms"]["p95"]
        assert q["peak_rss_mb"] > 50 and q["load_s"] > 0

    rb, lb = res["rag"]["build"], res["langchain"]["build"]
    rq, lq = res["rag"]["query"], res["langchain"]["query"]
    # LangChain embeds exactly its chunks, each at most chunk_size characters
    assert lb["embedded_texts"] == lb["chunks"]
    assert lb["chunk_chars_total"] <= 1000 * lb["chunks"]
    assert lb["splitter"] == {"class": "RecursiveCharacterTextSplitter", "chunk_size": 1000,
                              "chunk_overlap": 200}
    # rag's model reads sentences, each once, and makes a vector for every chunk from them
    assert rb["chunk_vectors_made"] == rb["chunks"]
    assert rb["embedded_texts"] == rb["sentence_texts_embedded"] > rb["chunks"]
    # ... counted where the model ran, and the same as the build says it embedded
    assert rb["embedded_texts"] == rb["build_stats"]["texts_embedded"]
    assert rq["ask"]["questions"] == 5 and 0 < rq["ask"]["ms"]["p50"] <= rq["ask"]["ms"]["p95"]

    ra = res["ratios"]
    assert ra == pytest.approx(ratios(res))
    assert ra["articles_per_s"] == pytest.approx(rb["articles_per_s"] / lb["articles_per_s"])
    assert ra["recall@5"] == pytest.approx(
        rq["quality"]["recall@5"] / lq["quality"]["recall@5"])
    assert ra["retrieval_p50"] == pytest.approx(
        rq["retrieval_ms"]["p50"] / lq["retrieval_ms"]["p50"])
    dw = res["done_when"]
    assert dw == done_when(res)
    assert dw["recall@5>=langchain"] == (rq["quality"]["recall@5"] >= lq["quality"]["recall@5"])
    assert dw["articles_per_s>langchain"] == (ra["articles_per_s"] > 1)
    assert dw["all"] == all(v for k, v in dw.items() if k != "all")

    t = table(res)
    assert "| **recall@5** |" in t and "| **articles/s** |" in t and "retrieval p50" in t
    assert (tmp_path / "rag-index").is_dir() and (tmp_path / "langchain-faiss").is_dir()
