"""Plain data types shared by every stage: documents, chunks, passages, retrievals,
citations, answers.

Nothing here does work; these are frozen records passed between ingest, chunk, store,
retrieve, generate and verify. Offsets are always character offsets into the *stored*
document text (the cleaned text returned by ``QA.document_text``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: importing rag.types stays free of numpy and models
    from collections.abc import Callable, Sequence

    import numpy as np

    from .embed_base import Embedder


@dataclass(frozen=True)
class Document:
    """A cleaned article.

    >>> d = Document(doc_id="a.md", text="Hello.", title="A")
    >>> d.doc_id, d.text
    ('a.md', 'Hello.')
    """

    doc_id: str
    text: str
    title: str
    author: str | None = None
    outlet: str | None = None
    date: str | None = None
    source_hash: str = ""  # sha256 of the raw file bytes


@dataclass(frozen=True)
class Chunk:
    """A contiguous span ``doc.text[start:end]`` made of whole sentences.

    ``sentences`` holds the (start, end) document offsets of each sentence in the chunk.
    """

    chunk_id: str
    doc_id: str
    start: int
    end: int
    text: str
    sentences: tuple[tuple[int, int], ...] = ()
    position: int = 0  # index of the chunk within its document


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk, in rank order."""

    chunk_id: str
    doc_id: str
    title: str
    text: str
    score: float
    start: int = 0
    end: int = 0
    outlet: str | None = None
    sentences: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Retrieval:
    """What retrieval found for one question (``HybridRetriever.search``).

    ``passages`` are in rank order; ``dense_scores[i]`` is the cosine similarity of
    ``passages[i]`` to the question, or None when the dense search did not list it (BM25
    only). ``query_vector`` is the question's embedding (None in BM25-only mode) and
    ``embedder`` the model that made it: vectors compared with it must come from the same
    model. ``context`` holds, for a passage whose previous sentence no passage holds, that
    sentence (the chunk before it, narrowed to its last sentence): an answer writer may quote
    it. ``timings`` in seconds (``retrieve``).

    >>> r = Retrieval("Where?", [Passage("c1", "a.md", "A", "Tartus.", 0.03)], dense_scores=[0.8])
    >>> r.passages[0].chunk_id, r.dense_scores, r.context
    ('c1', [0.8], [])
    """

    question: str
    passages: list[Passage] = field(default_factory=list)
    dense_scores: list[float | None] = field(default_factory=list)
    query_vector: np.ndarray | None = field(default=None, compare=False, repr=False)
    embedder: Embedder | None = field(default=None, compare=False, repr=False)
    context: list[Passage] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict, compare=False)
    # texts -> vectors the index stored for them (its sentences; ``Store.sentence_vectors``)
    sentence_vectors: Callable[[Sequence[str]], dict[str, np.ndarray]] | None = field(
        default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Citation:
    """Marker ``[n]``: an exact quote, ``document_text(doc_id)[start:end] == quote``."""

    n: int
    doc_id: str
    title: str
    quote: str
    start: int
    end: int
    chunk_id: str
    outlet: str | None = None


@dataclass(frozen=True)
class Dropped:
    """A sentence removed by verification, and why."""

    sentence: str
    reason: str
    score: float = 0.0


@dataclass(frozen=True)
class Answer:
    """What ``QA.ask`` returns. ``standalone_question`` is the question that was searched:
    ``question`` itself, or a follow-up rewritten with the conversation (``rag.followup``)."""

    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    abstained: bool = False
    standalone_question: str | None = None
    dropped: list[Dropped] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready form (used by the UI endpoint and the eval report)."""
        return {
            "question": self.question,
            "answer": self.text,
            "citations": [
                {
                    "n": c.n, "doc_id": c.doc_id, "title": c.title, "quote": c.quote,
                    "start": c.start, "end": c.end, "chunk_id": c.chunk_id, "outlet": c.outlet,
                }
                for c in self.citations
            ],
            "passages": [
                {
                    "chunk_id": p.chunk_id, "doc_id": p.doc_id, "title": p.title,
                    "text": p.text, "score": p.score, "start": p.start, "end": p.end,
                    "outlet": p.outlet,
                }
                for p in self.passages
            ],
            "abstained": self.abstained,
            "standalone_question": self.standalone_question,
            "dropped": [{"sentence": d.sentence, "reason": d.reason} for d in self.dropped],
        }
