"""Sentence vectors made at index time: every sentence of every chunk has one, a question
embeds nothing but itself, and builds keep the incremental rules (real SQLite and FAISS, the
hash embedder; the real model in the marked test)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import rag
from rag.embed import HashEmbedder
from rag.settings import Settings
from rag.store import Store, current_generation, text_hash


class Counting(HashEmbedder):
    """The hash embedder, remembering every text it embedded."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def embed_batch(self, texts):  # type: ignore[no-untyped-def]
        self.texts += list(texts)
        return super().embed_batch(texts)


def sentences_of(store: Store) -> set[str]:
    rows = store.conn.execute(
        "SELECT d.text, c.sentences FROM chunks c JOIN documents d USING(doc_id)"
    ).fetchall()
    return {text[s:e] for text, sj in rows for s, e in json.loads(sj)}


def test_every_sentence_has_its_vector(corpus: Path, tmp_path: Path) -> None:
    stats = rag.build_index(corpus, tmp_path / "index", embedding_model="hash")
    store = Store.open(tmp_path / "index")
    sents = sentences_of(store)
    assert stats.sentences_embedded == len(sents) > 2 * stats.chunks
    got = store.sentence_vectors(sorted(sents))
    assert set(got) == sents
    fresh = HashEmbedder().embed(sorted(sents))
    stored = np.stack([got[t] for t in sorted(sents)])
    assert stored.dtype == np.float32 and np.abs(stored - fresh).max() < 2e-3  # float16
    assert store.sentence_vectors(["Not a sentence of the index."]) == {}


def test_a_question_embeds_only_itself(corpus: Path, tmp_path: Path) -> None:
    rag.build_index(corpus, tmp_path / "index", embedding_model="hash")
    emb = Counting()
    qa = rag.QA(Store.open(tmp_path / "index"),
                Settings(index_dir=tmp_path / "index", embedding_model="hash"), embedder=emb)
    for q in ["Why won't Russia drop Assad?", "What did Kosachev say about the hotline?"]:
        before = len(emb.texts)
        ans = qa.ask(q)
        assert ans.citations, ans.text
        assert emb.texts[before:] == [q]  # the question, and no sentence


def test_answers_are_the_same_with_stored_and_fresh_vectors(corpus: Path, tmp_path: Path) -> None:
    """Stored float16 vectors pick the same sentences as embedding them at question time
    (what an index built before sentence vectors existed does)."""
    rag.build_index(corpus, tmp_path / "index", embedding_model="hash")
    settings = Settings(index_dir=tmp_path / "index", embedding_model="hash")
    stored = rag.QA(Store.open(tmp_path / "index"), settings)
    old = Store.open(tmp_path / "index")
    old.manifest = {k: v for k, v in old.manifest.items() if k != "sentence_vectors"}
    emb = Counting()
    fresh = rag.QA(old, settings, embedder=emb)
    questions = ["Why won't Russia drop Assad?", "Where does Russia keep its naval base?",
                 "What did Trump call Assad?", "How many Tomahawk missiles were fired?"]
    for q in questions:
        a, b = stored.ask(q), fresh.ask(q)
        assert (a.text, a.citations) == (b.text, b.citations)
    assert len(emb.texts) > 4 * len(questions)  # the old way embedded sentences


def test_an_index_without_sentence_vectors_gets_them(corpus: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    rag.build_index(corpus, index, embedding_model="hash")
    gen = current_generation(index)
    assert gen is not None
    manifest = json.loads((gen / "manifest.json").read_text())
    del manifest["sentence_vectors"]  # as written before sentence vectors existed
    (gen / "manifest.json").write_text(json.dumps(manifest))
    emb = Counting()
    stats = rag.build_index(corpus, index, embedder=emb)
    assert stats.embedded == 0 and stats.reused == stats.chunks  # no chunk vector made again
    assert stats.sentences_reused > 0 and emb.texts == []  # (their vectors were in the database)
    assert Store.open(index).manifest["sentence_vectors"] == 1


def chunk_rows(store: Store) -> list[tuple[str, list[str], np.ndarray]]:
    """(chunk text, its sentences, its stored vector) for every chunk."""
    rows = store.conn.execute(
        "SELECT d.text, c.start, c.end, c.sentences, e.vector FROM chunks c "
        "JOIN documents d USING(doc_id) JOIN embeddings e USING(text_hash) ORDER BY c.id"
    ).fetchall()
    return [(t[s:e], [t[a:b] for a, b in json.loads(sj)], np.frombuffer(v, dtype=np.float32))
            for t, s, e, sj, v in rows]


def test_a_chunk_vector_is_the_length_weighted_mean_of_its_sentences(
    corpus: Path, tmp_path: Path
) -> None:
    """The model reads sentences only; every chunk's vector (in SQLite and in FAISS) is the
    normalised length-weighted mean of its sentences' stored vectors."""
    from rag.index import chunk_vector

    emb = Counting()
    stats = rag.build_index(corpus, tmp_path / "index", embedder=emb)
    store = Store.open(tmp_path / "index")
    rows = chunk_rows(store)
    assert len(rows) == stats.chunks == stats.embedded > 5
    sents = sentences_of(store)
    assert sorted(emb.texts) == sorted(sents)  # each sentence once, no chunk
    assert any(len(s) > 1 for _, s, _ in rows)
    got = store.sentence_vectors(sorted(sents))
    for text, ss, vec in rows:
        want = chunk_vector([got[x] for x in ss], [len(x) for x in ss])
        assert np.allclose(vec, want, atol=1e-6) and abs(float(np.linalg.norm(vec)) - 1) < 1e-5
        if len(ss) > 1:  # not the vector of the chunk's text embedded whole
            assert float(vec @ HashEmbedder().embed([text])[0]) < 0.999
    ids = [r[0] for r in store.conn.execute("SELECT id FROM chunks ORDER BY id")]
    scores, found = store.faiss_index.search(np.stack([v for _, _, v in rows]), 1)
    assert list(found[:, 0]) == ids and scores.min() > 0.9999  # FAISS holds the same vectors


def test_chunk_vectors_made_another_way_are_made_again(corpus: Path, tmp_path: Path) -> None:
    """An index whose chunk vectors were the chunks embedded whole (before ``CHUNK_VECTORS``)
    gets mean vectors at its next build, reusing its sentence vectors: nothing is embedded."""
    index = tmp_path / "index"
    rag.build_index(corpus, index, embedding_model="hash")
    gen = current_generation(index)
    assert gen is not None
    manifest = json.loads((gen / "manifest.json").read_text())
    del manifest["chunk_vectors"]
    (gen / "manifest.json").write_text(json.dumps(manifest))
    store = Store.open(index)
    whole = {text_hash(t): HashEmbedder().embed([t])[0] for t, _, _ in chunk_rows(store)}
    store.close()
    import sqlite3

    with sqlite3.connect(gen / "store.sqlite") as db:  # as an older build wrote them
        db.executemany("UPDATE embeddings SET vector = ? WHERE text_hash = ?",
                       [(v.astype(np.float32).tobytes(), h) for h, v in whole.items()])
        db.execute("DELETE FROM meta WHERE key = 'chunk_vectors'")
    emb = Counting()
    stats = rag.build_index(corpus, index, embedder=emb)
    assert emb.texts == [] and stats.reused == 0 and stats.embedded == stats.chunks
    store = Store.open(index)
    assert store.manifest["chunk_vectors"] == "sentence-mean"
    multi = [(t, v) for t, s, v in chunk_rows(store) if len(s) > 1]
    assert multi and all(not np.allclose(v, whole[text_hash(t)], atol=1e-3) for t, v in multi)


def test_chunk_vector_needs_one_vector_per_sentence() -> None:
    from rag.index import chunk_vector

    with pytest.raises(ValueError, match="one vector per sentence, got 0 vectors and 0"):
        chunk_vector([], [])


def test_an_edit_embeds_only_new_sentences_and_a_delete_drops_them(
    corpus: Path, tmp_path: Path
) -> None:
    index = tmp_path / "index"
    rag.build_index(corpus, index, embedding_model="hash")
    ap = corpus / "russia-assad-ap.md"
    ap.write_text(ap.read_text().replace("59 Tomahawk", "sixty Tomahawk"))
    emb = Counting()
    stats = rag.build_index(corpus, index, embedder=emb)
    new = [t for t in emb.texts if "sixty Tomahawk" in t]
    assert stats.sentences_embedded == 1 == len(new) and stats.embedded >= 1  # its chunks
    assert all("sixty Tomahawk" in t for t in emb.texts)  # nothing unchanged re-embedded
    store = Store.open(index)
    n_vectors = store.conn.execute("SELECT count(*) FROM sentence_vectors").fetchone()[0]
    assert n_vectors == len(sentences_of(store))  # the old sentence's vector was pruned
    (corpus / "russia-syria-stance-fpb.md").unlink()
    rag.build_index(corpus, index, embedding_model="hash")
    store = Store.open(index)
    sents = sentences_of(store)
    hashes = {r[0] for r in store.conn.execute("SELECT text_hash FROM sentence_vectors")}
    assert hashes == {text_hash(t) for t in sents}


@pytest.mark.model
def test_stored_vectors_match_the_query_model(tmp_path: Path) -> None:
    """With the real model: a sentence's stored vector (built with sentence-transformers,
    kept as float16) and the same sentence embedded by the question-time ONNX embedder agree."""
    from conftest import ROOT

    from rag.embed import query_embedder

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    src = ROOT / "corpus" / "russia-assad-ap.md"
    (corpus / src.name).write_text(src.read_text())
    rag.build_index(corpus, tmp_path / "index")
    store = Store.open(tmp_path / "index")
    sents = sorted(sentences_of(store))[:20]
    got = store.sentence_vectors(sents)
    fresh = query_embedder("all-MiniLM-L6-v2").embed(sents)
    cos = [float(got[t] @ v) for t, v in zip(sents, fresh, strict=True)]
    assert min(cos) > 0.999, cos


def test_whole_chunk_vectors_embed_each_chunk_and_switching_remakes_them(
    corpus: Path, tmp_path: Path
) -> None:
    """``chunk_vectors="whole"``: the model reads every chunk as well as every sentence, and a
    chunk's vector is its text's. Switching mode makes every chunk vector again (nothing of the
    other mode is reused); sentence vectors are kept."""
    index = tmp_path / "index"
    emb = Counting()
    whole = rag.build_index(corpus, index, embedder=emb, chunk_vectors="whole")
    store = Store.open(index)
    rows = chunk_rows(store)
    assert store.manifest["chunk_vectors"] == "whole" and whole.embedded == len(rows)
    texts = {t for t, _, _ in rows}
    assert texts <= set(emb.texts) and sentences_of(store) <= set(emb.texts)
    assert len(emb.texts) == len(set(emb.texts)) == whole.texts_embedded  # each text once
    for text, _, vec in rows:
        assert np.allclose(vec, HashEmbedder().embed([text])[0], atol=1e-6)
    store.close()
    emb = Counting()
    mean = rag.build_index(corpus, index, embedder=emb)  # the default: sentence-mean
    assert emb.texts == [] and mean.reused == 0 and mean.embedded == mean.chunks
    assert mean.sentences_reused == len(sentences_of(Store.open(index)))
    assert Store.open(index).manifest["chunk_vectors"] == "sentence-mean"
    emb = Counting()
    again = rag.build_index(corpus, index, embedder=emb, chunk_vectors="whole")
    multi = {t for t, s, _ in chunk_rows(Store.open(index)) if len(s) > 1}
    assert multi and multi <= set(emb.texts) and again.sentences_embedded == 0
    assert again.embedded == again.chunks and again.reused == 0


def test_a_killed_build_of_the_other_mode_gives_no_chunk_vectors(
    corpus: Path, tmp_path: Path
) -> None:
    """Harvest takes sentence vectors from any killed build of the same model, chunk vectors
    only from one that made them the same way."""
    from rag.store import Writer

    stale = Writer(tmp_path / "index", None, "hash", "whole")
    stale.put_embeddings(["c1"], np.ones((1, 4), np.float32))
    stale.put_embeddings(["s1"], np.ones((1, 4), np.float32), "sentence_vectors")
    stale.conn.close()
    fresh = Writer(tmp_path / "index", None, "hash", "sentence-mean")
    assert fresh.harvest(stale.tmp / "store.sqlite") == 1
    assert fresh.cached_hashes(["c1"]) == set()
    assert fresh.cached_hashes(["s1"], "sentence_vectors") == {"s1"}
    same = Writer(tmp_path / "index2", None, "hash", "whole")
    assert same.harvest(stale.tmp / "store.sqlite") == 2 and same.cached_hashes(["c1"]) == {"c1"}


def test_chunk_vectors_setting_is_checked_where_it_is_set(tmp_path: Path) -> None:
    from rag.errors import SettingsError

    assert Settings.from_env({"RAG_CHUNK_VECTORS": "whole"}).chunk_vectors == "whole"
    with pytest.raises(SettingsError, match=r"RAG_CHUNK_VECTORS='mean'.*one of sentence-mean"):
        Settings.from_env({"RAG_CHUNK_VECTORS": "mean"})
    with pytest.raises(ValueError, match="chunk_vectors must be one of sentence-mean, whole"):
        rag.build_index(tmp_path, tmp_path / "index", embedding_model="hash",
                        chunk_vectors="max")
