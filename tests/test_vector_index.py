"""The vector index: exact below a size, HNSW above it, recorded in the manifest and applied on
reading; real FAISS and SQLite, the hash embedder (no model)."""

from __future__ import annotations

import doctest
import gzip
import json
from pathlib import Path

import faiss
import numpy as np
import pytest
from conftest import CORPUS, SHARED_DATA

import rag
import rag.vector_index
from rag.embed import HashEmbedder
from rag.store import MANIFEST, Store, current_generation
from rag.vector_index import (
    HNSW_EF_SEARCH,
    HNSW_M,
    build_vector_index,
    choose_kind,
    configure_for_search,
)

NEWS = SHARED_DATA / "news-cnn-dm-10k.jsonl.gz"
QUESTIONS = ["Why won't Russia drop Assad?", "What did the US strike?", "Who backs Syria?",
             "Tomahawk missiles", "chemical weapons attack"]


def test_doctests() -> None:
    assert doctest.testmod(rag.vector_index).failed == 0


def _normalised(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _realish(n: int, n_queries: int) -> tuple[np.ndarray, np.ndarray]:
    """Hash-embedded sentences of the shared news articles when present (real text, held-out
    sentences as queries); else clustered vectors in a low-dimensional subspace."""
    if NEWS.exists():
        from rag.text import split_sentences

        texts: list[str] = []
        with gzip.open(NEWS, "rt", encoding="utf-8") as fh:
            for line in fh:
                body = json.loads(line)["text"]
                texts += [body[s:e] for s, e in split_sentences(body) if e - s > 40]
                if len(texts) >= n + n_queries:
                    break
        texts = list(dict.fromkeys(texts))
        vecs = HashEmbedder(dim=384).embed(texts[: n + n_queries], batch_size=512)
    else:
        rng = np.random.default_rng(0)
        basis = rng.standard_normal((48, 384))
        centres = rng.standard_normal((80, 48))
        pick = rng.integers(0, 80, n + n_queries)
        vecs = _normalised((centres[pick] + 0.6 * rng.standard_normal((n + n_queries, 48)))
                           @ basis)
    return _normalised(vecs[:n]), _normalised(vecs[n:])


def _recall_at_10(found_scores: np.ndarray, exact_scores: np.ndarray) -> float:
    """Share of the results scoring at least the exact 10th score (ties count as found)."""
    kth = exact_scores[:, -1:] - 1e-5
    return float(np.mean(found_scores >= kth))


def test_kind_by_size() -> None:
    rng = np.random.default_rng(1)
    vecs = _normalised(rng.standard_normal((200, 32)))
    ids = np.arange(10, 210, dtype=np.int64)
    assert choose_kind(200) == "flat" and choose_kind(200, exact_max=199) == "hnsw"
    flat, fdesc = build_vector_index(ids, vecs, 32, exact_max=200)
    hnsw, hdesc = build_vector_index(ids, vecs, 32, exact_max=199)
    assert fdesc == {"kind": "flat", "faiss": "IDMap2,FlatIP", "metric": "inner_product"}
    assert hdesc["kind"] == "hnsw" and hdesc["M"] == HNSW_M and hdesc["ef_search"] == HNSW_EF_SEARCH
    assert isinstance(faiss.downcast_index(flat.index), faiss.IndexFlatIP)
    assert isinstance(faiss.downcast_index(hnsw.index), faiss.IndexHNSWFlat)
    assert flat.ntotal == hnsw.ntotal == 200
    # ids are the given ids; scores are cosines
    scores, found = hnsw.search(vecs[:3], 1)
    assert found[:, 0].tolist() == [10, 11, 12] and np.allclose(scores[:, 0], 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="kind must be one of"):
        build_vector_index(ids, vecs, 32, kind="lsh")
    with pytest.raises(ValueError, match="ivfpq needs at least"):
        build_vector_index(ids, vecs, 32, kind="ivfpq")
    empty, edesc = build_vector_index(np.zeros(0, np.int64), np.zeros((0, 32)), 32)
    assert empty.ntotal == 0 and edesc["kind"] == "flat"


def test_hnsw_recall_vs_exact() -> None:
    base, queries = _realish(5000, 200)
    ids = np.arange(len(base), dtype=np.int64)
    exact, _ = build_vector_index(ids, base, 384, kind="flat")
    hnsw, desc = build_vector_index(ids, base, 384, kind="hnsw")
    exact_scores, _ = exact.search(queries, 10)
    found_scores, _ = hnsw.search(queries, 10)
    assert _recall_at_10(found_scores, exact_scores) >= 0.95
    # a lower efSearch set through the description is what the index then uses
    configure_for_search(hnsw, {**desc, "ef_search": 10})
    assert faiss.downcast_index(hnsw.index).hnsw.efSearch == 10


def test_hnsw_build_is_deterministic() -> None:
    base, _ = _realish(2000, 0)
    ids = np.arange(len(base), dtype=np.int64)
    threads = faiss.omp_get_max_threads()
    files = []
    try:
        for t in (threads, threads, 1):
            faiss.omp_set_num_threads(t)
            index, _ = build_vector_index(ids, base, 384, kind="hnsw")
            files.append(faiss.serialize_index(index).tobytes())
    finally:
        faiss.omp_set_num_threads(threads)
    assert files[0] == files[1] == files[2]


def test_ivfpq_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rag.vector_index, "PQ_M", 8)  # 48 sub-quantisers train for ~25 s
    rng = np.random.default_rng(2)
    base = _normalised(rng.standard_normal((12_000, 32)))
    ids = np.arange(len(base), dtype=np.int64)
    index, desc = build_vector_index(ids, base, 32, kind="ivfpq")
    assert desc["kind"] == "ivfpq" and desc["nlist"] == 128 and desc["refine"] == "SQ8"
    assert desc["faiss"] == "IDMap2,IVF128,PQ8x8np,Refine(SQ8)"
    back = faiss.deserialize_index(faiss.serialize_index(index))
    configure_for_search(back, {**desc, "nprobe": 7, "k_factor": 2})
    refine = faiss.downcast_index(back.index)
    assert refine.k_factor == 2 and faiss.downcast_index(refine.base_index).nprobe == 7
    _, found = index.search(base[:5], 1)
    assert found[:, 0].tolist() == [0, 1, 2, 3, 4]


def _manifest(index: Path) -> tuple[Path, dict]:
    gen = current_generation(index)
    assert gen is not None
    return gen, json.loads((gen / MANIFEST).read_text())


def test_manifest_and_store_roundtrip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flat_dir, hnsw_dir = tmp_path / "flat", tmp_path / "hnsw"
    rag.build_index(CORPUS, flat_dir, embedding_model="hash")
    monkeypatch.setattr(rag.vector_index, "EXACT_MAX_VECTORS", 1)
    rag.build_index(CORPUS, hnsw_dir, embedding_model="hash")
    _, fman = _manifest(flat_dir)
    gen, hman = _manifest(hnsw_dir)
    assert fman["faiss_index"]["kind"] == "flat"
    rec = hman["faiss_index"]
    assert rec["kind"] == "hnsw" and rec["M"] == HNSW_M and rec["ef_search"] == HNSW_EF_SEARCH
    assert {"ef_construction", "faiss", "metric"} <= rec.keys()

    # written, read back through the Store: the same ids for the same query as the index
    # built in memory from the same rows
    store = Store.open(hnsw_dir)
    assert isinstance(faiss.downcast_index(store.faiss_index.index), faiss.IndexHNSWFlat)
    rows = store.conn.execute(
        "SELECT c.id, e.vector FROM chunks c JOIN embeddings e USING(text_hash) ORDER BY c.id"
    ).fetchall()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    vecs = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
    memory, _ = build_vector_index(ids, vecs, vecs.shape[1], kind="hnsw")
    flat_store = Store.open(flat_dir)
    emb = HashEmbedder()
    for q in QUESTIONS:
        qv = emb.embed_query(q)
        got = store.search_vectors(qv, 5)
        _, want = memory.search(qv[None], 5)
        assert [i for i, _ in got] == [int(i) for i in want[0] if i >= 0]
        # a tiny graph is searched exhaustively: same chunks (by id) as exact search
        assert [i for i, _ in got] == [i for i, _ in flat_store.search_vectors(qv, 5)]
    store.close()
    flat_store.close()

    # the manifest's efSearch is what the Store searches with
    (gen / MANIFEST).write_text(json.dumps({**hman, "faiss_index": {**rec, "ef_search": 17}}))
    store = Store.open(hnsw_dir)
    assert faiss.downcast_index(store.faiss_index.index).hnsw.efSearch == 17
    store.close()


def test_old_manifest_string_still_reads(tmp_path: Path) -> None:
    index = tmp_path / "index"
    rag.build_index(CORPUS, index, embedding_model="hash")
    before = Store.open(index)
    qv = HashEmbedder().embed_query(QUESTIONS[0])
    want = before.search_vectors(qv, 5)
    before.close()
    gen, manifest = _manifest(index)
    (gen / MANIFEST).write_text(json.dumps({**manifest, "faiss_index": "IDMap2,FlatIP"}))
    store = Store.open(index)
    assert store.search_vectors(qv, 5) == want and want
    store.close()
    with pytest.raises(ValueError, match="unknown vector index kind"):
        configure_for_search(store.faiss_index, {"kind": "annoy"})
