"""Plain data types shared by every stage: documents, chunks, passages, citations, answers.

Nothing here does work; these are frozen records passed between ingest, chunk, store,
retrieve, compose and verify. Offsets are always character offsets into the *stored*
document text (the cleaned text returned by ``QA.document_text``).
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
    """What ``QA.ask`` returns."""

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
