"""BM25 over FTS5 on a large index keeps a question's rarest terms (``BM25_MAX_POSTINGS``):
real SQLite FTS5 on the demo corpus, the budget lowered so that the corpus counts as large."""

from __future__ import annotations

from pathlib import Path

import pytest

import rag.store
from rag.store import Store


def rows_matching(store: Store, query: str) -> set[int]:
    return {r[0] for r in store.conn.execute(
        "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?", (query,))}


def test_postings_count_the_chunks_holding_a_term_as_fts5_stems_it(hash_index: Path) -> None:
    store = Store.open(hash_index)
    n = int(store.manifest["n_chunks"])
    assert store.postings("assad") == len(rows_matching(store, '"assad"')) > n // 2
    assert store.postings("vetoes") == store.postings("vetoed") > 0  # one porter stem
    assert store.postings("zebra") == 0


def test_a_small_index_scores_every_term(hash_index: Path) -> None:
    store = Store.open(hash_index)
    assert int(store.manifest["n_chunks"]) <= rag.store.BM25_MAX_POSTINGS
    got = store.search_bm25(["assad", "tomahawk"], 100)
    assert {i for i, _ in got} == rows_matching(store, '"assad" OR "tomahawk"')
    assert store.bm25_terms(["assad", "tomahawk", "assad"]) == ["assad", "tomahawk"]


def test_a_large_index_keeps_the_rarest_terms_within_the_budget(
    hash_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.open(hash_index)
    rare, common = store.postings("tomahawk"), store.postings("assad")
    assert 0 < rare < common
    monkeypatch.setattr(rag.store, "BM25_MAX_POSTINGS", rare + 1)  # the corpus is "large"
    got = store.search_bm25(["assad", "tomahawk", "zebra"], 100)
    assert {i for i, _ in got} == rows_matching(store, '"tomahawk"')  # "assad" left out
    # the rarest term that matches is always kept, even over the budget
    monkeypatch.setattr(rag.store, "BM25_MAX_POSTINGS", 1)
    assert {i for i, _ in store.search_bm25(["assad", "tomahawk"], 100)} == \
        rows_matching(store, '"tomahawk"')
    assert store.search_bm25(["zebra", "unicorn"], 100) == []
    assert store.bm25_terms(["assad", "zebra", "tomahawk"]) == ["tomahawk"]
    # within the budget, both are kept: the same rows as without one
    monkeypatch.setattr(rag.store, "BM25_MAX_POSTINGS", rare + common)
    assert {i for i, _ in store.search_bm25(["assad", "tomahawk"], 100)} == \
        rows_matching(store, '"assad" OR "tomahawk"')
