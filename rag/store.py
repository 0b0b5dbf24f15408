"""Store: one index generation on disk — SQLite (documents, chunks, FTS5, embeddings), a FAISS
index and a manifest — and the atomic switch between generations.

Layout of an index directory::

    index/
      CURRENT              name of the live generation, replaced atomically (os.replace)
      gen-000007/          the live generation
        manifest.json      format version, embedding model, dimension, chunker settings, counts
        store.sqlite       documents, chunks, chunks_fts (BM25), embeddings (chunk vectors,
                           cache by text hash: the mean of their sentences' vectors),
                           sentences and sentence_vectors (float16)
        vectors.faiss      FAISS inner-product index over chunk vectors, ids = chunks.rowid
      gen-000006/          the previous generation (kept for readers still using it)

A build writes a new ``gen-*.tmp`` folder and only then points ``CURRENT`` at it, so a build
killed at any point leaves the previous generation loadable and intact. Reading never writes.
This module does not chunk, embed or decide what changed (see ``rag.index``).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import IndexMismatchError, IndexMissingError
from .settings import DEFAULT_CHUNK_VECTORS
from .types import Chunk, Document, Passage

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CURRENT = "CURRENT"
MANIFEST = "manifest.json"
DB = "store.sqlite"
VECTORS = "vectors.faiss"
# SQLite connections a Store opens for questions, one per question in flight (more wait). All
# are opened with the Store: a re-index deletes old generations, and a connection opened
# later to a deleted generation would fail where an open one keeps reading.
READERS = 4
# A new generation's database is compacted (VACUUM: ~3 s at 10k articles) only when at least
# this share of its pages are free, left by the chunks and vectors of replaced or deleted
# documents; below it the next builds reuse the free pages.
VACUUM_FREE_SHARE = 0.2
# BM25 (FTS5) scores every row a query's terms match, so at a million chunks a common term
# ("said", the name an archive is about) makes a question scan most of the index. A query keeps
# its rarest terms whose postings (rows holding the term) add up to at most this many, and
# always its rarest one: the commoner terms left out are those BM25 weighs least (lowest IDF).
# An index with no more rows than this never leaves a term out. Fitted on the 10k news tier
# (``bench/RESULTS.md``, run 5), not on the eval sets.
BM25_MAX_POSTINGS = 20_000
POSTINGS_CACHE = 50_000  # terms whose row counts a Store remembers (its index never changes)

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY, title TEXT NOT NULL, author TEXT, outlet TEXT, date TEXT,
    source_hash TEXT NOT NULL, text TEXT NOT NULL, text_hash TEXT NOT NULL,
    n_chunks INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY, chunk_id TEXT NOT NULL UNIQUE,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    position INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
    text_hash TEXT NOT NULL, sentences TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE INDEX IF NOT EXISTS chunks_hash ON chunks(text_hash);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS embeddings (text_hash TEXT PRIMARY KEY, vector BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS sentences (
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE, text_hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sentences_doc ON sentences(doc_id);
CREATE INDEX IF NOT EXISTS sentences_hash ON sentences(text_hash);
CREATE TABLE IF NOT EXISTS sentence_vectors (text_hash TEXT PRIMARY KEY, vector BLOB NOT NULL);
"""

# Every sentence of every chunk has a vector, made at index time (float16: half the disk, and
# cosines within ~1e-3 of float32), so that a question embeds nothing but itself. Recorded in
# the manifest: an index without them is re-chunked by the next build (chunk vectors reused).
SENTENCE_VECTORS = 1

def _meta(conn: sqlite3.Connection, schema: str, key: str) -> str | None:
    """A value of the ``meta`` table of the attached database ``schema`` (None if unset)."""
    row = conn.execute(f"SELECT value FROM {schema}.meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def text_hash(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:32]


_VECTOR_TABLES = {"embeddings": np.float32, "sentence_vectors": np.float16}


def sentence_texts(text: str, chunks: Sequence[Chunk]) -> dict[str, str]:
    """hash -> text of the distinct sentences of ``chunks`` (of the document ``text``): the
    texts the composer compares with a question (``Passage.sentences``).

    >>> c = Chunk("c", "d", 0, 9, "One. Two.", sentences=((0, 4), (5, 9)))
    >>> sorted(sentence_texts("One. Two.", [c, c]).values())
    ['One.', 'Two.']
    """
    out: dict[str, str] = {}
    for c in chunks:
        for s, e in c.sentences:
            t = text[s:e]
            out.setdefault(text_hash(t), t)
    return out


def rebuild_hint(index_dir: Path) -> str:
    return f"rebuild it with `rag index --rebuild --index {index_dir}` (or delete {index_dir})"


def current_generation(index_dir: Path) -> Path | None:
    """The live generation folder, or None when the directory holds no index."""
    pointer = Path(index_dir) / CURRENT
    if not pointer.exists():
        return None
    name = pointer.read_text().strip()
    gen = Path(index_dir) / name
    if not name.startswith("gen-") or not (gen / MANIFEST).exists():
        raise IndexMismatchError(
            f"index at {index_dir} is damaged: {CURRENT} names {name!r}, which is missing; "
            + rebuild_hint(index_dir)
        )
    return gen


def read_manifest(gen: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((gen / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise IndexMismatchError(f"cannot read {gen / MANIFEST}: {exc}") from None
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexMismatchError(
            f"index at {gen.parent} has format version {version}, this version of rag reads "
            f"{FORMAT_VERSION}; " + rebuild_hint(gen.parent)
        )
    return manifest


def check_compatible(
    manifest: dict[str, Any], index_dir: Path, embedding_model: str, dimension: int | None = None
) -> None:
    """Refuse an index built with another embedding model or dimension."""
    built = manifest.get("embedding_model")
    if built != embedding_model:
        raise IndexMismatchError(
            f"index at {index_dir} was built with embedding model {built!r}, but the settings ask "
            f"for {embedding_model!r}; set RAG_EMBEDDING_MODEL={built} or "
            + rebuild_hint(index_dir)
        )
    if dimension is not None and manifest.get("dimension") != dimension:
        raise IndexMismatchError(
            f"index at {index_dir} holds {manifest.get('dimension')}-dimensional vectors, the "
            f"model gives {dimension}; " + rebuild_hint(index_dir)
        )


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.row_factory = sqlite3.Row
    return conn


@dataclass(frozen=True)
class DocInfo:
    doc_id: str
    title: str
    author: str | None
    outlet: str | None
    date: str | None
    source_hash: str
    n_chunks: int


class Store:
    """Read access to one generation: documents, chunks, BM25 and vector search."""

    def __init__(self, gen: Path, manifest: dict[str, Any]) -> None:
        import faiss

        from .vector_index import configure_for_search

        self.gen = gen
        self.manifest = manifest
        self.conn = connect(gen / DB, readonly=True)  # for callers on one thread
        # One connection per concurrent question, all opened now (see below): a query on one
        # never waits for another thread's query on a shared connection.
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all = [connect(gen / DB, readonly=True) for _ in range(READERS)]
        for c in self._all:
            self._readers.put(c)
        # Both files are opened now, not on the first question: a re-index removes all but
        # the two newest generations, and a Store opened but not yet searched by then found
        # its vectors file gone (an error for a question asked during re-indexing).
        self.faiss_index: Any = faiss.read_index(str(gen / VECTORS))
        configure_for_search(self.faiss_index, manifest.get("faiss_index"))  # e.g. efSearch
        self._postings: dict[str, int] = {}  # term -> rows holding it (see BM25_MAX_POSTINGS)

    @classmethod
    def open(cls, index_dir: Path | str) -> Store:
        index_dir = Path(index_dir)
        gen = current_generation(index_dir)
        if gen is None:
            raise IndexMissingError(
                f"no index at {index_dir}; build one with `rag index CORPUS --index {index_dir}`"
            )
        return cls(gen, read_manifest(gen))

    def close(self) -> None:
        for c in [self.conn, *self._all]:
            c.close()

    @contextmanager
    def reader(self) -> Iterator[sqlite3.Connection]:
        """A connection of this thread's own while the block runs (waits while ``READERS``
        questions hold them all)."""
        conn = self._readers.get()
        try:
            yield conn
        finally:
            self._readers.put(conn)

    # -- vectors -----------------------------------------------------------------------
    def search_vectors(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(chunk row id, cosine similarity) of the ``k`` nearest chunks."""
        index = self.faiss_index
        if index.ntotal == 0:
            return []
        scores, ids = index.search(np.asarray(query, dtype=np.float32).reshape(1, -1), k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    # -- lexical -----------------------------------------------------------------------
    def search_bm25(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        """(chunk row id, BM25 score, higher is better) for chunks matching any term (of a
        large index: any of the rarest terms, ``BM25_MAX_POSTINGS``)."""
        terms = [t.replace('"', "") for t in terms if t.replace('"', "").strip()]
        uniq = list(dict.fromkeys(terms))
        if not uniq:
            return []
        with self.reader() as conn:
            uniq = self.bm25_terms(uniq, conn)
            if not uniq:
                return []
            rows = conn.execute(
                "SELECT rowid, bm25(chunks_fts) AS s FROM chunks_fts WHERE chunks_fts MATCH ? "
                "ORDER BY s LIMIT ?",
                (" OR ".join(f'"{t}"' for t in uniq), k),
            ).fetchall()
        return [(int(r[0]), -float(r[1])) for r in rows]

    def bm25_terms(self, terms: Sequence[str], conn: sqlite3.Connection | None = None
                   ) -> list[str]:
        """The distinct ``terms`` that ``search_bm25`` scores, in their order: all of them in
        an index of at most ``BM25_MAX_POSTINGS`` rows; else the rarest whose postings add up
        to at most that many (at least the rarest one that matches anything)."""
        terms = list(dict.fromkeys(terms))
        if len(terms) < 2 or int(self.manifest.get("n_chunks", 0)) <= BM25_MAX_POSTINGS:
            return terms
        counts = {t: self.postings(t, conn) for t in terms}
        kept: set[str] = set()
        total = 0
        for t in sorted(terms, key=lambda t: (counts[t], t)):
            if counts[t] == 0:
                continue  # matches nothing
            if kept and total + counts[t] > BM25_MAX_POSTINGS:
                break
            kept.add(t)
            total += counts[t]
        return [t for t in terms if t in kept]

    def postings(self, term: str, conn: sqlite3.Connection | None = None) -> int:
        """How many chunks hold ``term`` (as FTS5 reads it: stemmed), remembered."""
        n = self._postings.get(term)
        if n is None:
            with nullcontext(conn) if conn is not None else self.reader() as c:
                n = int(c.execute("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?",
                                  (f'"{term.replace(chr(34), "")}"',)).fetchone()[0])
            if len(self._postings) >= POSTINGS_CACHE:
                self._postings.clear()
            self._postings[term] = n
        return n

    # -- records -----------------------------------------------------------------------
    def passages(self, row_ids: Iterable[int]) -> dict[int, Passage]:
        """Passages for chunk row ids (score 0; the retriever sets it)."""
        ids = list(row_ids)
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        # The chunk's text is read from its full-text row ("title\nchunk text", add_document),
        # not cut from the document's: substr() walks a document's text from its start (and
        # its overflow pages one by one), so a chunk deep into a long document cost ~1 ms per
        # megabyte before it.
        with self.reader() as conn:
            rows = conn.execute(
                f"SELECT c.id, c.chunk_id, c.doc_id, c.start, c.\"end\", c.sentences, d.title, "
                f"d.outlet, f.text AS fts FROM chunks c JOIN documents d USING(doc_id) "
                f"JOIN chunks_fts f ON f.rowid = c.id WHERE c.id IN ({marks})",
                ids,
            ).fetchall()
        return {
            r["id"]: Passage(
                chunk_id=r["chunk_id"], doc_id=r["doc_id"], title=r["title"],
                text=r["fts"][len(r["title"]) + 1 :],
                score=0.0, start=r["start"], end=r["end"], outlet=r["outlet"],
                sentences=tuple((s[0], s[1]) for s in json.loads(r["sentences"])),
            )
            for r in rows
        }

    def previous_chunk(self, doc_id: str, start: int) -> Passage | None:
        """The chunk of ``doc_id`` that starts last before offset ``start`` (context)."""
        with self.reader() as conn:
            row = conn.execute(
                "SELECT id FROM chunks WHERE doc_id = ? AND start < ? ORDER BY start DESC LIMIT 1",
                (doc_id, start),
            ).fetchone()
        return self.passages([row[0]]).get(row[0]) if row else None

    def document_text(self, doc_id: str) -> str:
        with self.reader() as conn:
            row = conn.execute("SELECT text FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        if row is None:
            raise KeyError(f"no document {doc_id!r} in the index")
        return str(row[0])

    def documents(self) -> list[DocInfo]:
        with self.reader() as conn:
            rows = conn.execute(
                "SELECT doc_id, title, author, outlet, date, source_hash, n_chunks FROM documents "
                "ORDER BY doc_id"
            ).fetchall()
        return [DocInfo(*r) for r in rows]

    def chunk_count(self) -> int:
        with self.reader() as conn:
            return int(conn.execute("SELECT count(*) FROM chunks").fetchone()[0])

    def sentence_vectors(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors (float32) of those ``texts`` that are sentences of the index; an
        index built before sentence vectors existed gives none.

        One query by primary key, whatever the index's size: ~0.1 ms a sentence."""
        if self.manifest.get("sentence_vectors") != SENTENCE_VECTORS or not texts:
            return {}
        by_hash = {text_hash(t): t for t in texts}
        marks = ",".join("?" * len(by_hash))
        with self.reader() as conn:
            rows = conn.execute(
                f"SELECT text_hash, vector FROM sentence_vectors WHERE text_hash IN ({marks})",
                list(by_hash),
            ).fetchall()
        return {by_hash[h]: np.frombuffer(v, dtype=np.float16).astype(np.float32)
                for h, v in rows}


class Writer:
    """Writes the next generation into a temporary folder; ``commit`` makes it live."""

    def __init__(self, index_dir: Path, base: Path | None, embedding_model: str,
                 chunk_vectors: str = DEFAULT_CHUNK_VECTORS) -> None:
        """``chunk_vectors``: one of ``rag.settings.CHUNK_VECTORS`` (checked by the caller,
        ``rag.index.build_index``)."""
        self.index_dir = Path(index_dir)
        self.index_dir.mkdir(parents=True, exist_ok=True)
        self.number = _next_number(self.index_dir)
        self.tmp = self.index_dir / f"gen-{self.number:06d}.tmp"
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        self.tmp.mkdir()
        if base is not None:
            src = connect(base / DB, readonly=True)
            dst = sqlite3.connect(self.tmp / DB)
            src.backup(dst)
            src.close()
            dst.close()
        self.conn = connect(self.tmp / DB)
        self.conn.executescript(SCHEMA)
        # (an index from before this was recorded made them "whole")
        if (_meta(self.conn, "main", "chunk_vectors") or "whole") != chunk_vectors:
            self.conn.execute("DELETE FROM embeddings")  # made another way: made again
        self.conn.executemany(
            "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
            [("embedding_model", embedding_model), ("chunk_vectors", chunk_vectors)],
        )
        self.conn.commit()
        self.embedding_model = embedding_model
        self.chunk_vectors = chunk_vectors

    def document_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM documents").fetchone()[0])

    # -- embeddings cache --------------------------------------------------------------
    def cached_hashes(self, hashes: Iterable[str], table: str = "embeddings") -> set[str]:
        """Which of ``hashes`` have a vector in ``table`` (``embeddings``: chunks;
        ``sentence_vectors``: sentences)."""
        if table not in _VECTOR_TABLES:
            raise ValueError(f"table must be one of {sorted(_VECTOR_TABLES)}, got {table!r}")
        have: set[str] = set()
        hs = list(set(hashes))
        for i in range(0, len(hs), 500):
            part = hs[i : i + 500]
            marks = ",".join("?" * len(part))
            rows = self.conn.execute(
                f"SELECT text_hash FROM {table} WHERE text_hash IN ({marks})", part
            )
            have.update(r[0] for r in rows)
        return have

    def stored_sentence_vectors(self, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """hash -> stored vector (float32) of those sentence ``hashes`` that have one."""
        out: dict[str, np.ndarray] = {}
        hs = list(set(hashes))
        for i in range(0, len(hs), 500):
            part = hs[i : i + 500]
            rows = self.conn.execute(
                "SELECT text_hash, vector FROM sentence_vectors WHERE text_hash IN "
                f"({','.join('?' * len(part))})", part,
            )
            out.update((h, np.frombuffer(v, dtype=np.float16).astype(np.float32))
                       for h, v in rows)
        return out

    def put_embeddings(
        self, hashes: Sequence[str], vectors: np.ndarray, table: str = "embeddings"
    ) -> None:
        """Store vectors in ``table`` and commit, so a killed build keeps what it embedded
        (see harvest)."""
        dtype = _VECTOR_TABLES[table]
        self.conn.executemany(
            f"INSERT OR REPLACE INTO {table}(text_hash, vector) VALUES (?, ?)",
            [(h, np.asarray(v, dtype=dtype).tobytes())
             for h, v in zip(hashes, vectors, strict=True)],
        )
        self.conn.commit()

    def harvest(self, other_db: Path) -> int:
        """Copy embeddings from an abandoned build's database; returns how many were new."""
        try:
            self.conn.execute("ATTACH DATABASE ? AS old", (f"file:{other_db}?mode=ro",))
        except sqlite3.Error:
            return 0
        try:
            if _meta(self.conn, "old", "embedding_model") != self.embedding_model:
                return 0
            before = self.conn.total_changes
            if (_meta(self.conn, "old", "chunk_vectors") or "whole") == self.chunk_vectors:
                self.conn.execute("INSERT OR IGNORE INTO embeddings "
                                  "SELECT text_hash, vector FROM old.embeddings")
            has_sentences = self.conn.execute(
                "SELECT 1 FROM old.sqlite_master WHERE name = 'sentence_vectors'"
            ).fetchone()
            if has_sentences:
                self.conn.execute("INSERT OR IGNORE INTO sentence_vectors "
                                  "SELECT text_hash, vector FROM old.sentence_vectors")
            self.conn.commit()
            return self.conn.total_changes - before
        except sqlite3.Error as exc:
            log.info("could not harvest embeddings from %s: %s", other_db, exc)
            self.conn.rollback()
            return 0
        finally:
            self.conn.execute("DETACH DATABASE old")

    # -- documents ---------------------------------------------------------------------
    def remove_document(self, doc_id: str) -> None:
        rows = self.conn.execute("SELECT id FROM chunks WHERE doc_id = ?", (doc_id,)).fetchall()
        self.conn.executemany("DELETE FROM chunks_fts WHERE rowid = ?", [(r[0],) for r in rows])
        self.conn.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
        self.conn.execute("DELETE FROM sentences WHERE doc_id = ?", (doc_id,))
        self.conn.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))

    def add_document(self, doc: Document, chunks: Sequence[Chunk]) -> None:
        self.conn.execute(
            "INSERT INTO documents(doc_id, title, author, outlet, date, source_hash, text,"
            " text_hash, n_chunks) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (doc.doc_id, doc.title, doc.author, doc.outlet, doc.date, doc.source_hash, doc.text,
             text_hash(doc.text), len(chunks)),
        )
        for c in chunks:
            cur = self.conn.execute(
                'INSERT INTO chunks(chunk_id, doc_id, position, start, "end", text_hash, sentences)'
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (c.chunk_id, c.doc_id, c.position, c.start, c.end, text_hash(c.text),
                 json.dumps([list(s) for s in c.sentences])),
            )
            # Index the title with the chunk text so that headline words match every chunk.
            self.conn.execute(
                "INSERT INTO chunks_fts(rowid, text) VALUES (?, ?)",
                (cur.lastrowid, f"{doc.title}\n{c.text}"),
            )
        self.conn.executemany(
            "INSERT INTO sentences(doc_id, text_hash) VALUES (?, ?)",
            [(doc.doc_id, h) for h in sentence_texts(doc.text, chunks)],
        )

    def prune_embeddings(self) -> int:
        """Drop vectors no chunk or sentence of the new generation uses; returns how many."""
        cur = self.conn.execute(
            "DELETE FROM embeddings WHERE text_hash NOT IN (SELECT text_hash FROM chunks)"
        )
        n = cur.rowcount
        cur = self.conn.execute("DELETE FROM sentence_vectors WHERE text_hash NOT IN "
                                "(SELECT text_hash FROM sentences)")
        return n + cur.rowcount

    def missing_sentence_vectors(self) -> int:
        """Sentences of the new generation without a vector (0 after a complete build)."""
        return int(self.conn.execute(
            "SELECT count(*) FROM (SELECT DISTINCT text_hash FROM sentences) s "
            "WHERE s.text_hash NOT IN (SELECT text_hash FROM sentence_vectors)"
        ).fetchone()[0])

    def free_share(self) -> float:
        """The share of the database's pages that are free (see ``VACUUM_FREE_SHARE``)."""
        pages = int(self.conn.execute("PRAGMA page_count").fetchone()[0])
        free = int(self.conn.execute("PRAGMA freelist_count").fetchone()[0])
        return free / pages if pages else 0.0

    # -- finish ------------------------------------------------------------------------
    def commit(self, manifest: dict[str, Any], dimension: int) -> Path:
        """Write vectors and manifest, then switch CURRENT to the new generation."""
        import faiss

        from .vector_index import build_vector_index

        self.conn.commit()
        rows = self.conn.execute(
            "SELECT c.id, e.vector FROM chunks c JOIN embeddings e USING(text_hash) ORDER BY c.id"
        ).fetchall()
        n_chunks = self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        if len(rows) != n_chunks:
            raise RuntimeError(f"{n_chunks - len(rows)} chunks have no embedding")
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
        index, vector_index = build_vector_index(ids, vecs.reshape(len(rows), dimension),
                                                 dimension)  # exact, or HNSW when large
        if self.free_share() >= VACUUM_FREE_SHARE:
            self.conn.execute("VACUUM")
        self.conn.close()
        faiss.write_index(index, str(self.tmp / VECTORS))
        manifest = {**manifest, "format_version": FORMAT_VERSION, "dimension": dimension,
                    "n_chunks": n_chunks, "faiss_index": vector_index}
        _write_durable(self.tmp / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))
        for name in (DB, VECTORS):
            _fsync(self.tmp / name)
        final = self.index_dir / f"gen-{self.number:06d}"
        os.replace(self.tmp, final)
        _fsync(self.index_dir)
        _write_durable(self.index_dir / (CURRENT + ".tmp"), final.name + "\n")
        os.replace(self.index_dir / (CURRENT + ".tmp"), self.index_dir / CURRENT)
        _fsync(self.index_dir)
        cleanup(self.index_dir, keep=2)
        return final

    def abort(self) -> None:
        try:
            self.conn.close()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


def document_hashes(gen: Path) -> dict[str, tuple[str, str]]:
    """doc_id -> (source_hash, text_hash) of the documents in generation ``gen``."""
    conn = connect(gen / DB, readonly=True)
    try:
        rows = conn.execute("SELECT doc_id, source_hash, text_hash FROM documents")
        return {r[0]: (r[1], r[2]) for r in rows}
    finally:
        conn.close()


def _next_number(index_dir: Path) -> int:
    nums = [0]
    for p in index_dir.glob("gen-*"):
        try:
            nums.append(int(p.name[4:].split(".")[0]))
        except ValueError:
            continue
    return max(nums) + 1


def stale_builds(index_dir: Path) -> list[Path]:
    """Temporary folders left by builds that were killed."""
    return sorted(p for p in Path(index_dir).glob("gen-*.tmp") if p.is_dir())


def cleanup(index_dir: Path, keep: int = 2) -> None:
    """Remove finished generations but the newest ``keep``; the live one is never removed."""
    live = current_generation(index_dir)
    gens = sorted(p for p in index_dir.glob("gen-*") if p.is_dir() and not p.name.endswith(".tmp"))
    for old in gens[:-keep]:
        if live is not None and old.resolve() == live.resolve():
            continue
        shutil.rmtree(old, ignore_errors=True)


def _write_durable(path: Path, text: str) -> None:
    with open(path, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
