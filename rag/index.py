"""Index: build or incrementally update an index from a corpus directory.

``build_index`` compares every file's hash with the live generation and then adds new
documents, replaces changed ones (their old chunks go, no stale or duplicate chunk stays) and
removes deleted ones. Every sentence of a chunk is embedded, so that the composer compares
sentences with a question without embedding any at question time, and a chunk's vector for
retrieval is the length-weighted mean of its sentences' (``chunk_vector``): the model reads
each sentence once and no chunk. Only texts never embedded before are embedded: vectors are
cached by text hash, and even a killed build's vectors are harvested by the next one. Nothing
is written when nothing changed. The new generation goes live atomically (see ``rag.store``).

Two stages do the heavy work: reading (parse, clean, chunk the new or changed files) and
embedding (the texts without a vector). An ``Executor`` runs them: ``LocalExecutor`` in this
process, ``rag.index_ray.RayExecutor`` on a Ray cluster (``rag index --ray``). Everything else
(scan, hashes, what changed, duplicates, which texts need a vector, SQLite, FAISS, the commit)
is the same code whichever runs them, so both give the same index.

A file that cannot be read or is not a document is skipped, one line in ``BuildStats.skipped``
saying why and what to do (logged at INFO; the CLI prints them): its previous version, if
any, is kept. Of two files with the same text only the first in name order is indexed, in a
full build and an incremental one alike, whichever came first.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> (d / "corpus").mkdir()
>>> _ = (d / "corpus" / "a.txt").write_text("Moscow backs Assad. It will not change.")
>>> stats = build_index(d / "corpus", d / "index", embedding_model="hash")
>>> stats.added, stats.chunks
(1, 1)
>>> build_index(d / "corpus", d / "index", embedding_model="hash").unchanged
1
"""

from __future__ import annotations

import fcntl
import logging
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import numpy as np

from .chunk import chunk_document, chunker_settings
from .embed import Embedder, Progress, index_embedder, prepare_query_model
from .errors import CorpusError, IndexMismatchError, RagError
from .ingest import (
    CLEANER_VERSION,
    doc_id_for,
    file_hash,
    load_document,
    scan_corpus,
    unreadable_reason,
)
from .settings import CHUNK_VECTORS, DEFAULT_CHUNK_VECTORS, DEFAULT_MODEL
from .store import (
    SENTENCE_VECTORS,
    Writer,
    current_generation,
    document_hashes,
    read_manifest,
    stale_builds,
    text_hash,
)
from .types import Chunk, Document

log = logging.getLogger(__name__)

CHUNK_VECTOR_BATCH = 2000  # chunk vectors made (and their sentence vectors read) at a time

# progress(stage, done, total): stages are "read" (files) and "embed" (sentences)
ProgressFn = Callable[[str, int, int], None]
# What reading one file gave: its document and chunks, or why it was passed over.
Parsed = tuple[str, Document | RagError, list[Chunk]]


class Executor(Protocol):
    """Where the two heavy stages of a build run; ``build_index`` does everything else."""

    embedder: Embedder  # its name and dimension are the index's

    def parse(
        self, files: Sequence[tuple[str, Path, bytes]], corpus_dir: Path, chunk_size: int,
        chunk_overlap: int,
    ) -> Iterator[Parsed]:
        """Read, clean and chunk ``(doc_id, path, bytes)`` files: one result per file, in any
        order, as they come."""
        ...

    def embed(
        self, texts: Sequence[tuple[str, str]], batch_size: int, progress: Progress
    ) -> Iterator[tuple[list[str], np.ndarray]]:
        """Normalised vectors of ``(hash, text)`` pairs, ``batch_size`` texts to a model call,
        as ``(hashes, vectors)`` batches in any order as they come; ``progress(n)`` after
        ``n`` more texts (``0``: about to start)."""
        ...

    def dimension(self, known: int | None) -> int:
        """The vectors' dimension (``known``: the base generation's, same model)."""
        ...

    def finish(self) -> None:
        """After a build has gone live."""
        ...


class LocalExecutor:
    """Both stages in this process, one file and one batch after the other.

    >>> from rag.embed import HashEmbedder
    >>> ex = LocalExecutor(HashEmbedder(dim=8))
    >>> [(hs, v.shape) for hs, v in ex.embed([("h1", "a b"), ("h2", "c")], 1, lambda n: None)]
    [(['h1'], (1, 8)), (['h2'], (1, 8))]
    """

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def parse(
        self, files: Sequence[tuple[str, Path, bytes]], corpus_dir: Path, chunk_size: int,
        chunk_overlap: int,
    ) -> Iterator[Parsed]:
        for doc_id, path, data in files:
            try:
                doc = load_document(path, corpus_dir, data)
            except RagError as exc:
                yield doc_id, exc, []
            else:
                yield doc_id, doc, chunk_document(doc, chunk_size, chunk_overlap)

    def embed(
        self, texts: Sequence[tuple[str, str]], batch_size: int, progress: Progress
    ) -> Iterator[tuple[list[str], np.ndarray]]:
        # one batch at a time (~2 s of work), stored by the caller before the next
        for i in range(0, len(texts), batch_size):
            part = texts[i : i + batch_size]
            vecs = self.embedder.embed([t for _, t in part], batch_size=batch_size,
                                       progress=progress)
            yield [h for h, _ in part], vecs

    def dimension(self, known: int | None) -> int:
        return self.embedder.dim

    def finish(self) -> None:
        prepare_query_model(self.embedder)  # questions then need no torch (query_embedder)


@dataclass
class BuildStats:
    added: int = 0
    replaced: int = 0
    removed: int = 0
    unchanged: int = 0
    documents: int = 0
    chunks: int = 0
    embedded: int = 0  # chunk vectors made by this build (embedded whole, or from sentences)
    reused: int = 0  # chunk texts whose vectors were already cached
    sentences_embedded: int = 0  # sentence texts embedded by this build
    sentences_reused: int = 0  # sentence texts whose vectors were already stored
    texts_embedded: int = 0  # distinct texts the model read (sentences; "whole": and chunks)
    # (file, reason) for every file passed over, by name: one line each, what and how to fix
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    generation: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.added or self.replaced or self.removed)

    def summary(self) -> str:
        return (
            f"{self.documents} documents, {self.chunks} chunks: {self.added} added, "
            f"{self.replaced} replaced, {self.removed} removed, {self.unchanged} unchanged; "
            f"{self.embedded} chunk vectors made, {self.reused} reused; "
            f"{self.sentences_embedded} sentences embedded, {self.sentences_reused} reused"
            + (f"; {len(self.skipped)} files skipped" if self.skipped else "")
            + f" ({self.seconds:.1f} s)"
        )


@contextmanager
def _build_lock(index_dir: Path) -> Iterator[None]:
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RagError(
                f"another build of {index_dir} is running; wait for it to finish"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build_index(
    corpus_dir: str | Path = "corpus",
    index_dir: str | Path = "index",
    *,
    embedding_model: str = DEFAULT_MODEL,
    embedder: Embedder | None = None,
    chunk_size: int = 900,
    chunk_overlap: int = 1,
    batch_size: int = 32,
    rebuild: bool = False,
    progress: ProgressFn | None = None,
    executor: Executor | None = None,
    chunk_vectors: str = DEFAULT_CHUNK_VECTORS,
) -> BuildStats:
    """Create or incrementally update the index at ``index_dir`` from ``corpus_dir``.

    ``executor`` runs the reading and embedding (default: ``LocalExecutor``, in this process);
    when given, its embedder is the model (``embedding_model`` and ``embedder`` are unused).
    ``chunk_vectors``: how chunk vectors are made, one of ``rag.settings.CHUNK_VECTORS``.
    """
    if chunk_vectors not in CHUNK_VECTORS:
        raise ValueError(f"chunk_vectors must be one of {', '.join(CHUNK_VECTORS)}, "
                         f"got {chunk_vectors!r}")
    t0 = time.perf_counter()
    corpus_dir, index_dir = Path(corpus_dir), Path(index_dir)
    if executor is None:
        executor = LocalExecutor(embedder or index_embedder(embedding_model))
    embedder = executor.embedder
    chunker = chunker_settings(chunk_size, chunk_overlap)
    files, passed_over = scan_corpus(corpus_dir)
    if not files:
        raise CorpusError(
            f"corpus directory {corpus_dir} holds no .txt, .md, .html or .pdf file; add articles"
            + (f" ({len(passed_over)} other files passed over, e.g. {passed_over[0][0]}: "
               f"{passed_over[0][1]})" if passed_over else "")
        )
    stats = BuildStats()

    def skip(doc_id: str, reason: str) -> None:
        reason = reason.removeprefix(f"{doc_id}: ")
        stats.skipped.append((doc_id, reason))
        log.info("skipping %s: %s", doc_id, reason)

    for name, reason in passed_over:
        skip(name, reason)
    with _build_lock(index_dir):
        base, reuse_docs = _base_generation(index_dir, embedder.name, chunker, chunk_vectors,
                                            rebuild)
        # doc_id -> (source_hash, text_hash) in the base; the new generation starts as its copy
        old = document_hashes(base) if base is not None else {}
        rank = {doc_id_for(p, corpus_dir): i for i, p in enumerate(files)}  # name order
        raw: dict[str, tuple[Path, bytes]] = {}
        unreadable: set[str] = set()
        for n, path in enumerate(files, 1):
            doc_id = doc_id_for(path, corpus_dir)
            try:
                raw[doc_id] = (path, path.read_bytes())
            except OSError as exc:
                skip(doc_id, unreadable_reason(exc))
                unreadable.add(doc_id)
            if progress:
                progress("scan", n, len(files))
        current = {d: file_hash(b) for d, (_, b) in raw.items()}
        removed = [d for d in old if d not in current and d not in unreadable]
        todo = [d for d in current if not reuse_docs or old.get(d, ("",))[0] != current[d]]
        read: dict[str, tuple[Document, list[Chunk]]] = {}
        files_todo = [(d, *raw[d]) for d in todo]
        parsing = executor.parse(files_todo, corpus_dir, chunk_size, chunk_overlap)
        for n, (doc_id, doc, chunks) in enumerate(parsing, 1):
            if isinstance(doc, RagError):
                skip(doc_id, str(doc))  # its version indexed before, if any, stays
            else:
                read[doc_id] = (doc, chunks)
            if progress:
                progress("read", n, len(todo))
        # in name order, however they came: chunks (and their FAISS ids) are added in it
        parsed = {d: read[d] for d in todo if d in read}
        # The text of every document the new generation would hold: kept or (re)read. Of
        # identical texts the first name in sort order is kept, whatever was indexed before,
        # so that an incremental build gives the same index as a build from scratch.
        holds = {d: th for d, (_, th) in old.items() if d not in removed and d not in parsed}
        holds.update((d, text_hash(doc.text)) for d, (doc, _) in parsed.items())
        first: dict[str, str] = {}
        for doc_id in sorted(holds, key=lambda d: (rank.get(d, len(rank)), d)):
            keep = first.setdefault(holds[doc_id], doc_id)
            if keep == doc_id:
                continue
            skip(doc_id, f"same text as {keep}, which is indexed (of files with the same text "
                         "the first name in sort order is); delete one of them")
            parsed.pop(doc_id, None)
            if doc_id in old:
                removed.append(doc_id)
        stats.skipped.sort()
        stats.unchanged = sum(d not in parsed for d in first.values())
        if not parsed and not removed and base is not None and reuse_docs:
            stats.documents = len(old)
            stats.chunks = int(read_manifest(base).get("n_chunks", 0))
            stats.seconds = time.perf_counter() - t0
            stats.generation = base.name
            log.info("index is up to date: %s", stats.summary())
            return stats

        writer = Writer(index_dir, base, embedder.name, chunk_vectors)
        try:
            for stale in stale_builds(index_dir):
                if stale != writer.tmp and (stale / "store.sqlite").exists():
                    got = writer.harvest(stale / "store.sqlite")
                    if got:
                        log.info("recovered %d embeddings from interrupted build %s", got, stale)
            _embed_missing(writer, executor, list(parsed.values()), batch_size, progress, stats)

            for doc_id in removed:
                writer.remove_document(doc_id)
                stats.removed += 1
            for doc, chunks in parsed.values():
                if doc.doc_id in old:
                    writer.remove_document(doc.doc_id)
                    stats.replaced += 1
                else:
                    stats.added += 1
                writer.add_document(doc, chunks)
            writer.prune_embeddings()
            manifest = {
                "embedding_model": embedder.name,
                "chunker": chunker,
                "cleaner_version": CLEANER_VERSION,
                "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "n_documents": writer.document_count(),
                "sentence_vectors": SENTENCE_VECTORS,
                "chunk_vectors": chunk_vectors,
            }
            missing = writer.missing_sentence_vectors()
            if missing:
                raise RuntimeError(f"{missing} sentences have no vector")
            known = read_manifest(base).get("dimension") if base is not None else None
            final = writer.commit(manifest, executor.dimension(known))
        except Exception:
            writer.conn.close()  # keep the folder: the next build harvests its embeddings
            raise
        for stale in stale_builds(index_dir):
            shutil.rmtree(stale, ignore_errors=True)
        executor.finish()
        stats.documents = manifest["n_documents"]  # type: ignore[assignment]
        stats.chunks = int(read_manifest(final)["n_chunks"])
        stats.generation = final.name
        stats.seconds = time.perf_counter() - t0
        log.info("index built: %s", stats.summary())
        return stats


def _base_generation(
    index_dir: Path, model: str, chunker: dict[str, object], chunk_vectors: str, rebuild: bool
) -> tuple[Path | None, bool]:
    """The generation to start from, and whether its documents can be kept as they are."""
    try:
        gen = current_generation(index_dir)
        manifest = read_manifest(gen) if gen is not None else None
    except IndexMismatchError as exc:
        log.warning("starting a new index: %s", exc)
        return None, False
    if gen is None or manifest is None:
        return None, False
    if manifest.get("embedding_model") != model:
        log.warning(
            "index was built with %s; rebuilding everything with %s",
            manifest.get("embedding_model"), model,
        )
        return None, False
    same = (
        manifest.get("chunker") == chunker
        and manifest.get("cleaner_version") == CLEANER_VERSION
        and manifest.get("sentence_vectors") == SENTENCE_VECTORS  # else: add them
        and manifest.get("chunk_vectors", "whole") == chunk_vectors  # else: make them again
        and not rebuild
    )
    return gen, same  # other chunker: re-chunk everything, but reuse cached vectors


def _embed_missing(
    writer: Writer,
    executor: Executor,
    parsed: list[tuple[Document, list[Chunk]]],
    batch_size: int,
    progress: ProgressFn | None,
    stats: BuildStats,
) -> None:
    """Embed the sentences of ``parsed`` that have no vector yet (and, for ``"whole"`` chunk
    vectors, the chunks), each text once, storing them as they come; then, for
    ``"sentence-mean"``, make the chunk vectors not cached yet from them (``chunk_vector``)."""
    whole = writer.chunk_vectors == "whole"
    chunk_sents: dict[str, list[tuple[str, int]]] = {}  # chunk hash -> (sentence hash, length)
    chunk_texts: dict[str, str] = {}
    sent_texts: dict[str, str] = {}
    for doc, chunks in parsed:
        for c in chunks:
            spans = [doc.text[s:e] for s, e in c.sentences]
            hashes = [text_hash(t) for t in spans]
            sent_texts.update(zip(hashes, spans, strict=True))
            h = text_hash(c.text)
            chunk_texts.setdefault(h, c.text)
            chunk_sents.setdefault(h, [(x, len(t)) for x, t in zip(hashes, spans, strict=True)])
    need_chunk = set(chunk_sents) - writer.cached_hashes(chunk_sents)
    need_sent = set(sent_texts) - writer.cached_hashes(sent_texts, "sentence_vectors")
    texts = {**sent_texts, **chunk_texts}
    # Similar lengths batched together: less padding, as sentence-transformers does itself.
    missing = sorted(need_sent | (need_chunk if whole else set()), key=lambda h: (len(texts[h]), h))
    stats.reused = len(chunk_sents) - len(need_chunk)
    stats.sentences_reused = len(sent_texts) - len(need_sent)
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress("embed", done, len(missing))

    # Stored batch by batch as they come (each commits): a killed build loses one at most.
    for part, vecs in executor.embed([(h, texts[h]) for h in missing], batch_size, tick):
        for table, need in (("embeddings", need_chunk if whole else set()),
                            ("sentence_vectors", need_sent)):
            rows = [j for j, h in enumerate(part) if h in need]
            if rows:
                writer.put_embeddings([part[j] for j in rows], vecs[rows], table)
    todo = [] if whole else sorted(need_chunk)
    for i in range(0, len(todo), CHUNK_VECTOR_BATCH):
        part = todo[i : i + CHUNK_VECTOR_BATCH]
        stored = writer.stored_sentence_vectors([h for c in part for h, _ in chunk_sents[c]])
        vecs = np.stack([chunk_vector([stored[h] for h, _ in chunk_sents[c]],
                                      [n for _, n in chunk_sents[c]]) for c in part])
        writer.put_embeddings(part, vecs)
    stats.embedded = len(need_chunk)
    stats.sentences_embedded = len(need_sent)
    stats.texts_embedded = len(missing)


def chunk_vector(sentence_vectors: Sequence[np.ndarray], lengths: Sequence[int]) -> np.ndarray:
    """A chunk's ``"sentence-mean"`` vector (``rag.settings.CHUNK_VECTORS``): the mean of its
    sentences' vectors weighted by their lengths, scaled to unit length.

    >>> chunk_vector([np.array([1.0, 0.0]), np.array([0.0, 1.0])], [30, 10]).round(3)
    array([0.949, 0.316], dtype=float32)
    """
    if not sentence_vectors or len(sentence_vectors) != len(lengths):
        raise ValueError(f"a chunk needs one vector per sentence, got {len(sentence_vectors)} "
                         f"vectors and {len(lengths)} lengths")
    w = np.asarray(lengths, dtype=np.float32)[:, None]
    mean = (np.stack(sentence_vectors).astype(np.float32) * w).sum(axis=0)
    norm = float(np.linalg.norm(mean))
    return (mean / norm if norm > 0 else mean).astype(np.float32)
