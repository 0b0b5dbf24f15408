"""Incremental, atomic builds: real SQLite and FAISS, the hash embedder."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import ROOT

import rag
from rag.embed import HashEmbedder
from rag.errors import CorpusError, IndexMismatchError, IndexMissingError, RagError
from rag.store import Store, current_generation, stale_builds

CORPUS = ROOT / "corpus"
ARTICLE = (
    "Berlin hosted a summit on Arctic shipping routes. Delegates from nine countries attended "
    "the meeting. The talks focused on icebreaker capacity and insurance costs."
)


class CountingEmbedder(HashEmbedder):
    """The hash embedder, counting how many texts it was asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def embed_batch(self, texts):  # type: ignore[no-untyped-def]
        self.calls += len(texts)
        return super().embed_batch(texts)


def build(corpus: Path, index: Path, **kw):  # type: ignore[no-untyped-def]
    return rag.build_index(corpus, index, embedding_model="hash", **kw)


def chunk_texts(index: Path) -> list[str]:
    store = Store.open(index)
    rows = store.conn.execute(
        'SELECT substr(d.text, c.start + 1, c."end" - c.start) FROM chunks c JOIN documents d '
        "USING(doc_id)"
    ).fetchall()
    return [r[0] for r in rows]


def test_first_build_then_no_change_writes_nothing(corpus: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    stats = build(corpus, index)
    assert (stats.added, stats.replaced, stats.removed, stats.unchanged) == (2, 0, 0, 0)
    assert stats.chunks == stats.embedded > 5
    gen = current_generation(index)
    emb = CountingEmbedder()
    again = rag.build_index(corpus, index, embedder=emb)
    assert (again.added, again.unchanged, again.embedded, emb.calls) == (0, 2, 0, 0)
    assert current_generation(index) == gen  # nothing written


def test_edit_add_delete(corpus: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    build(corpus, index)
    before = chunk_texts(index)
    ap = corpus / "russia-assad-ap.md"
    ap.write_text(ap.read_text().replace("59 Tomahawk", "sixty Tomahawk"))
    (corpus / "arctic.txt").write_text(ARTICLE)
    (corpus / "russia-syria-stance-fpb.md").unlink()
    emb = CountingEmbedder()
    stats = rag.build_index(corpus, index, embedder=emb)
    assert (stats.added, stats.replaced, stats.removed, stats.unchanged) == (1, 1, 1, 0)
    # only the chunks whose text changed were embedded (one or two around the edit + the new
    # doc), and the sentences never seen (the edited one, the new doc's three)
    assert 1 <= stats.embedded <= 3 and stats.reused > 0
    assert stats.sentences_embedded == 4 and stats.sentences_reused > 20
    assert emb.calls == stats.texts_embedded <= stats.embedded + stats.sentences_embedded
    texts = chunk_texts(index)
    assert not any("59 Tomahawk" in t for t in texts), "stale chunk of the edited file"
    assert sum("sixty Tomahawk" in t for t in texts) >= 1
    assert not any("Ania Viver" in t for t in texts), "chunks of the deleted file remain"
    assert len(texts) == len(set(texts)) or len(texts) < len(before) + 5
    store = Store.open(index)
    assert [d.doc_id for d in store.documents()] == ["arctic.txt", "russia-assad-ap.md"]
    assert store.faiss_index.ntotal == store.chunk_count()
    hits = store.search_bm25(["Arctic", "icebreaker"], 5)
    assert store.passages([hits[0][0]])[hits[0][0]].doc_id == "arctic.txt"


def assert_passages_are_document_slices(index: Path) -> int:
    """Every chunk's passage text (read from its full-text row) is its document's text between
    its offsets; returns how many chunks were compared."""
    store = Store.open(index)
    ids = [r[0] for r in store.conn.execute("SELECT id FROM chunks").fetchall()]
    passages = store.passages(ids)
    assert sorted(passages) == sorted(ids)
    for p in passages.values():
        assert p.text == store.document_text(p.doc_id)[p.start : p.end], p.chunk_id
    return len(ids)


def test_passage_text_is_the_document_slice_after_edits(corpus: Path, tmp_path: Path) -> None:
    """A title with accents (before each chunk in its full-text row), a long document of
    non-ASCII text, and an incremental build that deletes and re-adds full-text rows."""
    index = tmp_path / "index"
    long_doc = " ".join(f"Sentence {i} about the Øresund bridge – “tolls” – and café prices."
                        for i in range(3000))
    (corpus / "long.md").write_text(f'---\ntitle: "Øresund: the toll years"\n---\n{long_doc}\n')
    build(corpus, index)
    assert assert_passages_are_document_slices(index) > 100
    (corpus / "long.md").write_text(f"---\ntitle: Tolls\n---\n{long_doc.replace('3', 'three')}\n")
    (corpus / "russia-syria-stance-fpb.md").unlink()
    build(corpus, index)
    assert assert_passages_are_document_slices(index) > 100


def test_same_text_under_two_names_is_indexed_once(corpus: Path, tmp_path: Path) -> None:
    (corpus / "copy.md").write_bytes((corpus / "russia-assad-ap.md").read_bytes())
    stats = build(corpus, tmp_path / "index")
    assert stats.added == 2
    assert any("same text as" in reason for _, reason in stats.skipped)


def test_bad_file_is_skipped_and_rest_indexed(corpus: Path, tmp_path: Path) -> None:
    (corpus / "broken.txt").write_bytes(b"\x00\xff\x00 binary junk")
    stats = build(corpus, tmp_path / "index")
    assert stats.added == 2
    assert [d for d, _ in stats.skipped] == ["broken.txt"]
    assert "binary" in stats.skipped[0][1]


def test_a_file_that_turns_bad_keeps_its_previous_version(corpus: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    build(corpus, index)
    (corpus / "russia-assad-ap.md").write_bytes(b"\x00\x00garbage")
    stats = build(corpus, index)
    assert stats.removed == 0 and stats.skipped
    assert "russia-assad-ap.md" in [d.doc_id for d in Store.open(index).documents()]


def test_empty_and_missing_corpus(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="holds no"):
        build(tmp_path / "empty", tmp_path / "index")
    with pytest.raises(CorpusError, match="does not exist"):
        build(tmp_path / "nope", tmp_path / "index")
    assert current_generation(tmp_path / "index") is None


def test_loading_with_another_model_is_refused(hash_index: Path) -> None:
    with pytest.raises(IndexMismatchError, match="rebuild") as err:
        rag.load(hash_index, embedding_model="all-MiniLM-L6-v2")
    assert "'hash'" in str(err.value)
    with pytest.raises(IndexMissingError, match="rag index"):
        rag.load(hash_index.parent / "nothing-here")


def test_another_dimension_is_refused(hash_index: Path, tmp_path: Path) -> None:
    import json
    import shutil

    copy = tmp_path / "index"
    shutil.copytree(hash_index, copy)
    gen = current_generation(copy)
    assert gen is not None
    manifest = json.loads((gen / "manifest.json").read_text())
    manifest["dimension"] = 128
    (gen / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="128-dimensional"):
        rag.load(copy, embedding_model="hash").ask("Tomahawk")


def test_changed_model_rebuilds_everything(corpus: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    build(corpus, index)
    stats = rag.build_index(corpus, index, embedding_model="hash-64")
    assert stats.added == 2 and stats.embedded == stats.chunks
    assert rag.load(index, embedding_model="hash-64").ask("Tomahawk missiles").citations


def test_failure_while_committing_leaves_previous_index(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rag.store as store_mod

    index = tmp_path / "index"
    build(corpus, index)
    answer = rag.load(index, embedding_model="hash").ask("How many Tomahawk missiles?").text
    (corpus / "arctic.txt").write_text(ARTICLE)
    real = store_mod._write_durable

    def fail_on_pointer(path: Path, text: str) -> None:
        if path.name.startswith("CURRENT"):
            raise OSError("disk full (injected)")
        real(path, text)

    monkeypatch.setattr(store_mod, "_write_durable", fail_on_pointer)
    with pytest.raises(OSError, match="injected"):
        build(corpus, index)
    monkeypatch.undo()
    qa = rag.load(index, embedding_model="hash")
    assert [d.doc_id for d in qa.documents()] == [
        "russia-assad-ap.md", "russia-syria-stance-fpb.md"
    ]
    assert qa.ask("How many Tomahawk missiles?").text == answer
    assert build(corpus, index).added == 1  # the next build recovers


SLOW_BUILD = textwrap.dedent(
    """
    import sys, time
    import rag
    from rag.embed import HashEmbedder

    class Slow(HashEmbedder):
        def embed_batch(self, texts):
            print("EMBEDDING", flush=True)
            time.sleep(0.5)
            return super().embed_batch(texts)

    rag.build_index(sys.argv[1], sys.argv[2], embedder=Slow(), batch_size=1)
    """
)


def test_killed_build_leaves_previous_index_intact(corpus: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    build(corpus, index)
    qa = rag.load(index, embedding_model="hash")
    before = qa.ask("Why won't Russia drop Assad?")
    gen = current_generation(index)
    for i in range(30):
        (corpus / f"new-{i}.txt").write_text(ARTICLE.replace("nine", f"{i + 10}") + f" Note {i}.")
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_BUILD, str(corpus), str(index)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    seen = 0
    for line in proc.stdout:
        seen += line.startswith("EMBEDDING")
        if seen >= 3:
            break
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert stale_builds(index), "the killed build's temporary folder should be left over"
    assert current_generation(index) == gen
    after = rag.load(index, embedding_model="hash").ask("Why won't Russia drop Assad?")
    assert after.text == before.text and after.citations == before.citations
    # the next build finishes the job and reuses what the killed one embedded
    emb = CountingEmbedder()
    stats = rag.build_index(corpus, index, embedder=emb)
    assert stats.added == 30
    only_new = tmp_path / "only-new"
    only_new.mkdir()
    for f in corpus.glob("new-*.txt"):
        shutil.copy(f, only_new / f.name)
    full = CountingEmbedder()  # what the 30 new files need, from nothing
    rag.build_index(only_new, tmp_path / "other", embedder=full)
    # at least the two batches (of one text) the killed build had finished were harvested
    assert emb.calls == stats.texts_embedded <= full.calls - 2
    assert not stale_builds(index)


def test_concurrent_builds_are_refused(corpus: Path, tmp_path: Path) -> None:
    import fcntl

    index = tmp_path / "index"
    index.mkdir()
    with open(index / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        with pytest.raises(RagError, match="another build"):
            build(corpus, index)


def test_damaged_pointer_is_reported(hash_index: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "index"
    shutil.copytree(hash_index, copy)
    (copy / "CURRENT").write_text("gen-999999\n")
    with pytest.raises(IndexMismatchError, match="damaged"):
        rag.load(copy, embedding_model="hash")


# -- files with the same text; skipped files (issue 11) -----------------------------------
def snapshot(index: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """What an index holds: (doc_id, text hash) of every document, and every chunk id."""
    store = Store.open(index)
    docs = store.conn.execute("SELECT doc_id, text_hash FROM documents ORDER BY doc_id")
    chunks = store.conn.execute("SELECT chunk_id FROM chunks ORDER BY chunk_id")
    return [(r[0], r[1]) for r in docs], [r[0] for r in chunks]


def test_of_two_files_with_the_same_text_the_first_name_is_kept_in_every_kind_of_build(
    tmp_path: Path,
) -> None:
    """An incremental build keeps what a build from scratch keeps: the first name in sort
    order, whichever file came first, and the other one as soon as the first goes or
    changes. (The incremental build kept whichever was indexed first.)"""
    src, index = tmp_path / "c", tmp_path / "index"
    src.mkdir()
    (src / "other.txt").write_text("Oslo hosted talks on fishing quotas.", encoding="utf-8")

    def check(expect: list[str], skipped: dict[str, str]) -> None:
        stats = build(src, index)
        scratch = tmp_path / f"scratch-{len(list(tmp_path.glob('scratch-*')))}"
        assert dict(stats.skipped) == dict(build(src, scratch).skipped) == skipped
        assert snapshot(index) == snapshot(scratch)
        assert [d for d, _ in snapshot(index)[0]] == expect

    check(["other.txt"], {})
    (src / "b.md").write_text(ARTICLE, encoding="utf-8")
    check(["b.md", "other.txt"], {})
    (src / "a.md").write_text(ARTICLE, encoding="utf-8")  # same text, an earlier name
    same_as_a = ("same text as a.md, which is indexed (of files with the same text the first "
                 "name in sort order is); delete one of them")
    check(["a.md", "other.txt"], {"b.md": same_as_a})
    (src / "a.md").unlink()  # the kept one is deleted: the other one appears
    check(["b.md", "other.txt"], {})
    (src / "a.md").write_text(ARTICLE, encoding="utf-8")
    check(["a.md", "other.txt"], {"b.md": same_as_a})
    (src / "a.md").write_text(ARTICLE + " Edited.", encoding="utf-8")  # the kept one changes
    check(["a.md", "b.md", "other.txt"], {})
    (src / "b.md").write_text(ARTICLE + " Edited.", encoding="utf-8")
    check(["a.md", "other.txt"], {"b.md": same_as_a})
    (src / "b.md").write_text(ARTICLE, encoding="utf-8")
    (src / "a.md").write_bytes(b"\x00 now a binary file")  # bad: its old version stays
    stats = build(src, index)
    assert [d for d, _ in snapshot(index)[0]] == ["a.md", "b.md", "other.txt"]
    assert [d for d, _ in stats.skipped] == ["a.md"]


def test_skipped_files_do_not_make_a_build_write_a_new_generation(
    corpus: Path, tmp_path: Path
) -> None:
    index = tmp_path / "index"
    (corpus / "zz-copy.md").write_bytes((corpus / "russia-assad-ap.md").read_bytes())
    (corpus / "broken.txt").write_bytes(b"\x00\xff binary")
    first = build(corpus, index)
    gen = current_generation(index)
    again = build(corpus, index)  # both were re-read and skipped again: a new generation
    assert current_generation(index) == gen and not again.changed
    assert again.skipped == first.skipped == [
        ("broken.txt", "looks like a binary file (NUL bytes); save it as text"),
        ("zz-copy.md", "same text as russia-assad-ap.md, which is indexed (of files with the "
                       "same text the first name in sort order is); delete one of them"),
    ]  # the reason no longer repeats the file name ("broken.txt: broken.txt: looks like...")
    assert (again.documents, again.unchanged) == (2, 2)


def test_an_unreadable_file_is_skipped_with_how_to_fix_it(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """chmod 000 as a user (root reads anyway, so the error is injected here)."""
    (corpus / "locked.txt").write_text("You cannot read this.", encoding="utf-8")
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == "locked.txt":
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    stats = build(corpus, tmp_path / "index")
    assert stats.added == 2
    assert stats.skipped == [("locked.txt", "cannot read the file (Permission denied); check "
                                            "its permissions (chmod a+r)")]


def test_upload_with_the_text_of_a_document_in_the_library_is_refused(tmp_path: Path) -> None:
    """An upload that repeats a document's text is refused, whatever its name: under a name
    earlier in sort order it would otherwise be kept and the document already there dropped."""
    from rag.errors import RagError
    from rag.library import Library
    from rag.settings import Settings

    shutil.copytree(CORPUS, tmp_path / "corpus")
    lib = Library(Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index",
                           embedding_model="hash"))
    lib.start()
    before = sorted(d.doc_id for d in lib.qa.store.documents())
    data = (CORPUS / "russia-assad-ap.md").read_bytes()
    for name in ("a-copy.md", "zz-copy.md"):  # before and after it in sort order
        with pytest.raises(RagError, match="same text as russia-assad-ap.md"):
            lib.add_files([(name, data)], replace_existing=False)
        assert not (tmp_path / "corpus" / name).exists()
        assert sorted(d.doc_id for d in lib.qa.store.documents()) == before


def _free_pages(index: Path) -> tuple[int, int]:
    import sqlite3

    gen = current_generation(index)
    assert gen is not None
    with sqlite3.connect(gen / "store.sqlite") as db:
        return (db.execute("PRAGMA freelist_count").fetchone()[0],
                db.execute("PRAGMA page_count").fetchone()[0])


def test_a_generation_is_compacted_only_when_many_pages_are_free(tmp_path: Path) -> None:
    """``VACUUM_FREE_SHARE``: one edited article of 30 leaves its few freed pages for the next
    build to reuse (no VACUUM, seconds at 10k articles); deleting most articles compacts."""
    import rag.store

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(30):
        body = " ".join(f"Sentence {j} of article {i} tells of event {i * 100 + j}."
                        for j in range(60))
        (corpus / f"a{i:02d}.txt").write_text(body)
    index = tmp_path / "index"
    rag.build_index(corpus, index, embedding_model="hash")
    (corpus / "a00.txt").write_text((corpus / "a00.txt").read_text().replace("event", "affair"))
    rag.build_index(corpus, index, embedding_model="hash")
    free, pages = _free_pages(index)
    assert 0 < free < rag.store.VACUUM_FREE_SHARE * pages  # kept free, not compacted
    for i in range(1, 25):
        (corpus / f"a{i:02d}.txt").unlink()
    stats = rag.build_index(corpus, index, embedding_model="hash")
    assert stats.removed == 24 and _free_pages(index)[0] == 0  # compacted
    store = Store.open(index)
    assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert len(store.search_bm25(["affair"], 50)) > 0
