"""Library: the document library as a service - the live index, uploads, deletes, re-index.

``Library(settings)`` owns the corpus folder and the index built from it, for every caller
at once (the web UI's sessions, a script, the CLI): ``start()`` builds the index when none
exists and loads it; ``qa`` is the live ``rag.chain.QA``; ``qa_for(generator)`` the same
index answered by another generator; ``add_files`` validates uploaded files (type, size,
readable text: ``rag.ingest.load_document``) and writes them into the corpus atomically,
then re-indexes - a file the indexer still rejects is taken out again and the index rebuilt
as it was; ``delete`` removes a document; ``reindex`` re-reads the corpus. Corpus changes
run one at a time; answers in flight keep the index they started with while a re-index
swaps in the new one.

It imports no web framework (``rag.ui`` builds the Gradio app on top of it) and does not
answer questions itself (``rag.chain``).

>>> sanitize_filename("../../etc/My Article (1).TXT")
'My-Article-1.txt'
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from .chain import QA, load
from .errors import RagError
from .files import write_atomic
from .index import BuildStats, build_index
from .ingest import load_document
from .settings import Settings
from .store import current_generation

__all__ = ["MAX_UPLOAD_BYTES", "UPLOAD_TYPES", "Backend", "Library", "sanitize_filename"]

UPLOAD_TYPES = (".txt", ".md", ".html", ".htm", ".pdf")
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
WARM_UP = "Why won't Russia drop Assad?"  # asked once at start-up to load every model

Progress = Callable[[str, int, int], None]  # (stage, done, total), as build_index reports it


class Library:
    """Holds the live ``QA``; re-indexing builds a new generation and swaps it in under a lock.

    Requests read ``library.qa`` once and keep that object for the whole answer, so a swap
    never changes the index under a running answer; the old QA is dropped when unused. The
    new QA keeps the old one's models and caches (``QA.reopened``): they depend on texts,
    not on the index. A build that fails leaves the corpus as the index is.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.corpus_dir = Path(settings.corpus_dir)
        self.index_dir = Path(settings.index_dir)
        self._qa: QA | None = None
        self._by_generator: dict[str, QA] = {}
        self._swap = threading.Lock()  # guards self._qa
        self._build = threading.Lock()  # one corpus change / build at a time
        self._make = threading.Lock()  # one QA per generator (qa_for)

    @property
    def qa(self) -> QA:
        with self._swap:
            if self._qa is None:
                raise RagError("the index is not loaded yet")
            return self._qa

    def start(self, progress: Progress | None = None) -> BuildStats | None:
        """Build the index when none exists, load it and warm the model up."""
        stats = None
        if current_generation(self.index_dir) is None:
            stats = self._build_index(progress)
        self._load()
        self.qa.ask(WARM_UP)  # loads the model, FAISS and the scorer before the first user
        return stats

    def _build_index(self, progress: Progress | None) -> BuildStats:
        s = self.settings
        return build_index(
            self.corpus_dir, self.index_dir, embedding_model=s.embedding_model,
            chunk_size=s.chunk_size, chunk_overlap=s.chunk_overlap,
            batch_size=s.embed_batch_size, progress=progress, chunk_vectors=s.chunk_vectors,
        )

    def _load(self) -> None:
        new = load(self.index_dir, self.settings)  # the embedder is cached per process
        with self._swap:
            old = self._qa
            by_generator: dict[str, QA] = {}
            if old is not None and old.settings == new.settings:
                # Keep the loaded models and warm caches of every generator in use.
                by_generator = {g: q.reopened(new.store) for g, q in self._by_generator.items()}
                new = by_generator.get(self.settings.generator) or old.reopened(new.store)
            by_generator[self.settings.generator] = new
            self._qa = new
            self._by_generator = by_generator

    def qa_for(self, generator: str) -> QA:
        """The QA answering with ``generator`` over the live index (built on first use).

        Raises ``RagError`` naming the fix when that generator cannot be used (a missing
        extra, no server configured)."""
        from .generate import generator_from_settings

        qa = self.qa
        with self._make:  # threads asking at once got a QA (and a model to load) each
            with self._swap:
                cached = self._by_generator.get(generator)
            if cached is not None and cached.store is qa.store:
                return cached
            if cached is not None:  # made for another generation: keep its models
                other = cached.reopened(qa.store)
            else:
                settings = self.settings.with_(generator=generator)
                other = QA(qa.store, settings, embedder=qa.embedder,
                           generator=generator_from_settings(settings), scorer=qa.scorer)
            with self._swap:
                if self._qa is qa:  # a re-index swapped meanwhile: that QA is for the old one
                    self._by_generator[generator] = other
            return other

    def reindex(self, progress: Progress | None = None) -> BuildStats:
        with self._build:
            return self._reindex_locked(progress)

    def _reindex_locked(self, progress: Progress | None) -> BuildStats:
        stats = self._build_index(progress)
        self._load()
        return stats

    # -- corpus changes ---------------------------------------------------------------
    def add_files(
        self, files: Sequence[tuple[str, bytes]], replace_existing: bool,
        progress: Progress | None = None,
    ) -> tuple[list[str], BuildStats]:
        """Validate every file, then write them into the corpus and re-index.

        Nothing is written unless every file is valid; a file the indexer still skips is
        taken out again (the replaced version restored) and the index rebuilt as it was.
        """
        with self._build:
            checked: list[tuple[str, bytes]] = []
            problems: list[str] = []
            for name, data in files:
                try:
                    checked.append((self._check_upload(name, data, replace_existing), data))
                except RagError as exc:
                    problems.append(str(exc))
            names = [n for n, _ in checked]
            if len(set(names)) != len(names):
                problems.append("two uploaded files have the same name")
            if problems:
                raise RagError("; ".join(problems))
            backups: dict[str, bytes | None] = {}
            for name, data in checked:
                target = self.corpus_dir / name
                backups[name] = target.read_bytes() if target.exists() else None
                write_atomic(target, data)
            try:
                stats = self._reindex_locked(progress)
            except BaseException:
                # The build failed (another process building the same index, a full disk):
                # the index is as it was, so the corpus must be too.
                self._restore(backups)
                raise
            bad = {d: r for d, r in stats.skipped if d in backups}
            # An upload with the text of a document already here, under a name earlier in
            # sort order, would be kept and the older document dropped in its favour.
            for d, r in stats.skipped:
                for name in backups:
                    if d not in backups and r.startswith(f"same text as {name},"):
                        bad[name] = f"same text as {d}, which is already in the library"
            if bad:
                self._restore(backups)
                self._reindex_locked(None)
                raise RagError("not added: " + "; ".join(f"{d}: {r}" for d, r in bad.items()))
            return names, stats

    def _restore(self, backups: dict[str, bytes | None]) -> None:
        """Put the corpus files named in ``backups`` back as they were (None: absent)."""
        for name, old in backups.items():
            if old is None:
                (self.corpus_dir / name).unlink(missing_ok=True)
            else:
                write_atomic(self.corpus_dir / name, old)

    def check_upload(self, name: str, data: bytes, replace_existing: bool) -> str:
        """The corpus file name ``name`` would be saved as, or ``RagError`` saying why it
        would be rejected (type, size, unreadable, already there); writes nothing. The UI
        checks files one by one with it, so it can add the good ones and name the bad."""
        return self._check_upload(name, data, replace_existing)

    def _check_upload(self, name: str, data: bytes, replace_existing: bool) -> str:
        safe = sanitize_filename(name)
        if len(data) > MAX_UPLOAD_BYTES:
            raise RagError(f"{safe}: {len(data) / 1e6:.1f} MB is over the 10 MB limit")
        target = self._corpus_path(safe)
        if target.exists() and not replace_existing:
            raise RagError(
                f"{safe} is already in the library; tick 'Replace existing files' to replace it"
            )
        try:
            load_document(target, self.corpus_dir, data)  # reads `data`, never the disk
        except RagError as exc:
            raise RagError(f"{safe} was rejected: {exc}") from None
        return safe

    def delete(
        self, doc_id: str, progress: Progress | None = None
    ) -> BuildStats:
        with self._build:
            known = {d.doc_id for d in self.qa.documents()}
            if doc_id not in known:
                raise RagError(f"no document {doc_id!r} in the library")
            path = self._corpus_path(doc_id, nested=True)
            if not path.is_file():
                raise RagError(f"{doc_id} is indexed but not in {self.corpus_dir}; re-index")
            others = [p for p in self.corpus_dir.rglob("*") if p.is_file() and p != path]
            if not any(p.suffix.lower() in UPLOAD_TYPES + (".markdown",) for p in others):
                raise RagError("this is the last document; add another before deleting it")
            data = path.read_bytes()
            path.unlink()
            try:
                return self._reindex_locked(progress)
            except BaseException:  # the index still holds it: so must the corpus
                write_atomic(path, data)
                raise

    def _corpus_path(self, name: str, nested: bool = False) -> Path:
        """``corpus_dir / name``, refusing anything that would land outside the corpus."""
        root = self.corpus_dir.resolve()
        path = (root / name).resolve()
        if path.parent != root and not (nested and root in path.parents):
            raise RagError(f"{name!r} is not a file name inside the corpus")
        return path


def sanitize_filename(name: str) -> str:
    """A safe corpus file name: the base name only, letters, digits, ``.-_``, allowed type.

    >>> sanitize_filename("../../etc/My Article (1).TXT")
    'My-Article-1.txt'
    """
    base = re.split(r"[\\/]", str(name or ""))[-1]
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    suffix = "." + suffix.lower() if suffix else ""
    if suffix not in UPLOAD_TYPES:
        raise RagError(
            f"{base or 'the file'}: unsupported type {suffix or '(none)'}; upload "
            + ", ".join(UPLOAD_TYPES)
        )
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-_")[:100].strip(".-_")
    if not stem:
        raise RagError(f"{base!r}: the file name has no usable characters")
    return stem + suffix


Backend = Library  # the name rag.ui used
