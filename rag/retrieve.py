"""Retrieve: hybrid dense (FAISS) + lexical (SQLite FTS5 BM25) search, fused with reciprocal
rank fusion, with diversity across documents; also a LangChain ``BaseRetriever``.

``HybridRetriever.search(question)`` returns a ``rag.types.Retrieval``: the passages in rank
order, the query vector (and the embedder that made it), each passage's dense score, and on
request the sentence before each passage (``context``); ``run(question)`` returns the
passages alone. The fused score of a chunk is ``sum(1 / (rrf_k + rank))`` over the lists it
appears in; then chunks are picked greedily, each further chunk from an already-picked
document paying ``doc_penalty`` per chunk already taken from it, and a chunk that mostly
overlaps a picked one is skipped. A retriever keeps no state between questions: it can
serve concurrent questions.

It does not compose answers or judge whether the passages answer the question.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from .embed_base import Embedder
from .store import Store
from .text import content_words
from .types import Passage, Retrieval

log = logging.getLogger(__name__)


class HybridRetriever:
    """Dense + BM25 with reciprocal rank fusion and document diversity.

    >>> HybridRetriever(store=None, embedder=None, top_k=0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: top_k must be > 0, got 0
    """

    def __init__(
        self,
        store: Store | None,
        embedder: Embedder | None,
        top_k: int = 5,
        candidates: int = 30,
        rrf_k: int = 60,
        doc_penalty: float = 0.15,
        mode: str = "hybrid",
    ) -> None:
        if top_k <= 0:
            raise ValueError(f"top_k must be > 0, got {top_k}")
        if candidates < top_k:
            raise ValueError(f"candidates must be >= top_k ({top_k}), got {candidates}")
        if mode not in ("hybrid", "dense", "bm25"):
            raise ValueError(f"mode must be hybrid, dense or bm25, got {mode!r}")
        if not 0 <= doc_penalty < 1:
            raise ValueError(f"doc_penalty must be in [0, 1), got {doc_penalty}")
        self.store = store
        self.embedder = embedder
        self.top_k = top_k
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.doc_penalty = doc_penalty
        self.mode = mode

    def run(self, question: str, top_k: int | None = None) -> list[Passage]:
        """The top passages for ``question``, in rank order."""
        return self.search(question, top_k).passages

    def search(
        self,
        question: str,
        top_k: int | None = None,
        context: bool = False,
        also: Sequence[str] = (),
    ) -> Retrieval:
        """Everything retrieval knows about ``question``'s top passages (see ``Retrieval``);
        ``context=True`` adds the sentence before each passage. Each query of ``also`` is
        searched too and its ranked lists fused with the question's: a follow-up question is
        searched as its standalone rewrite *and* as asked, so that its own words count twice
        as much as the context the rewrite added."""
        assert self.store is not None and self.embedder is not None
        t0 = time.perf_counter()
        k = top_k or self.top_k
        lists: list[list[int]] = []
        qv = None
        dense: dict[int, float] = {}
        for n, query in enumerate(dict.fromkeys([question, *also])):
            if self.mode in ("hybrid", "dense"):
                vector = self.embedder.embed_query(query)
                found = self.store.search_vectors(vector, self.candidates)
                if n == 0:
                    qv, dense = vector, dict(found)
                lists.append([i for i, _ in found])
            if self.mode in ("hybrid", "bm25"):
                bm25 = self.store.search_bm25(content_words(query), self.candidates)
                lists.append([i for i, _ in bm25])
        fused: dict[int, float] = {}
        for ranked in lists:
            for rank, row in enumerate(ranked):
                fused[row] = fused.get(row, 0.0) + 1.0 / (self.rrf_k + rank + 1)
        records = self.store.passages(fused) if fused else {}
        rows = {p.chunk_id: r for r, p in records.items()}
        passages = self._diversify(
            [replace(records[r], score=s) for r, s in fused.items() if r in records], k
        )
        return Retrieval(
            question,
            passages,
            dense_scores=[dense.get(rows[p.chunk_id]) for p in passages],
            query_vector=qv,
            embedder=self.embedder,
            context=self.context(passages) if context else [],
            timings={"retrieve": time.perf_counter() - t0},
            sentence_vectors=self.store.sentence_vectors,
        )

    def context(self, passages: Sequence[Passage]) -> list[Passage]:
        """For each passage, the chunk before it, narrowed to the one sentence just before
        the passage starts, when no passage of ``passages`` holds that sentence already."""
        assert self.store is not None
        out: list[Passage] = []
        seen = {p.chunk_id for p in passages}
        for p in passages:
            prev = self.store.previous_chunk(p.doc_id, p.start)
            if prev is None or prev.chunk_id in seen:
                continue
            before = [s for s in prev.sentences if s[1] <= p.start]
            if not before:
                continue
            s0 = before[-1][0]
            if not any(q.doc_id == p.doc_id and q.start <= s0 < q.end for q in passages):
                seen.add(prev.chunk_id)
                out.append(replace(prev, sentences=(before[-1],)))
        return out

    def _diversify(self, passages: list[Passage], k: int) -> list[Passage]:
        pool = sorted(passages, key=lambda p: -p.score)
        picked: list[Passage] = []
        per_doc: dict[str, int] = {}
        while pool and len(picked) < k:
            best_i, best_s = 0, -1.0
            for i, p in enumerate(pool):
                s = p.score * (1 - self.doc_penalty) ** per_doc.get(p.doc_id, 0)
                if s > best_s:
                    best_i, best_s = i, s
            p = pool.pop(best_i)
            if any(_overlap(p, q) > 0.6 for q in picked):
                continue
            picked.append(p)
            per_doc[p.doc_id] = per_doc.get(p.doc_id, 0) + 1
        return picked


def _overlap(a: Passage, b: Passage) -> float:
    if a.doc_id != b.doc_id:
        return 0.0
    inter = min(a.end, b.end) - max(a.start, b.start)
    return max(0, inter) / max(1, min(a.end - a.start, b.end - b.start))


class LangChainRetriever(BaseRetriever):
    """``HybridRetriever`` as a LangChain retriever (metadata carries ids, offsets, score)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    hybrid: HybridRetriever
    k: int = 5

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[LCDocument]:
        return [to_langchain(p) for p in self.hybrid.run(query, top_k=self.k)]


def to_langchain(p: Passage) -> LCDocument:
    return LCDocument(
        page_content=p.text,
        id=p.chunk_id,
        metadata={
            "chunk_id": p.chunk_id, "doc_id": p.doc_id, "title": p.title, "outlet": p.outlet,
            "start": p.start, "end": p.end, "score": p.score,
        },
    )


def passages_text(passages: Sequence[Passage]) -> str:
    """Numbered passages, as handed to a language model."""
    return "\n\n".join(f"[{i}] {p.title}\n{p.text}" for i, p in enumerate(passages, 1))
