"""Chain: the wiring from question to cited answer, and the public ``load`` / ``QA`` API.

``load(index_dir)`` opens an index (cheaply: the FAISS file and the embedding model load on
the first question) and returns a ``QA``. ``QA.ask`` runs retrieve -> compose -> verify:

1. retrieve the top passages (``rag.retrieve.HybridRetriever``);
2. compose sentences with their sources (the extractive composer by default);
3. check every sentence against the passage it cites with the trained support checker
   (``rag.verify.SupportScorer``, the one the eval suite reports on) and drop what is not
   supported;
4. number the citations in order of appearance; each is an exact quote with offsets.

``QA.check(text)`` checks any text against the corpus, sentence by sentence (``rag.check``).
``QA.chain`` is the same as a LangChain ``Runnable`` (``invoke`` returns an ``Answer``,
``stream`` yields growing ``Answer`` snapshots); ``QA.retriever`` is a LangChain retriever.

>>> import tempfile, pathlib, rag
>>> d = pathlib.Path(tempfile.mkdtemp()); (d / "c").mkdir()
>>> _ = (d / "c" / "a.txt").write_text("Moscow keeps a naval base in Tartus on the coast of Syria.")
>>> _ = rag.build_index(d / "c", d / "i", embedding_model="hash")
>>> ans = rag.load(d / "i", embedding_model="hash").ask("Where is the naval base of Moscow?")
>>> ans.text
'Moscow keeps a naval base in Tartus on the coast of Syria. [1]'
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig

from . import prompts
from .check import CheckReport, check_text
from .compose import Composition, ExtractiveComposer
from .embed import Embedder, get_embedder
from .errors import IndexMismatchError, RagError
from .generate import ExtractiveGenerator, Generator, generator_from_settings
from .retrieve import HybridRetriever, LangChainRetriever
from .settings import Settings
from .store import DocInfo, Store, check_compatible
from .types import Answer, Citation, Dropped, Passage
from .verify import Checker

log = logging.getLogger(__name__)

COMPOSE_EXTRA = 3  # passages beyond top_k that the composer may quote from


def load(
    index_dir: str | Path = "index", settings: Settings | None = None, **overrides: Any
) -> QA:
    """Open the index at ``index_dir``; ``overrides`` change single settings (``top_k=3``)."""
    settings = (settings or Settings()).with_(index_dir=Path(index_dir), **overrides)
    store = Store.open(settings.index_dir)
    check_compatible(store.manifest, settings.index_dir, settings.embedding_model)
    return QA(store, settings, generator=generator_from_settings(settings))


class QA:
    """Question answering over one index. Thread-safe for concurrent ``ask`` calls."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        embedder: Embedder | None = None,
        generator: Generator | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.generator = generator or ExtractiveGenerator()
        self._embedder = embedder
        self._checked_dim = False
        self._scorer: Checker | None = None
        self._composer: ExtractiveComposer | None = None

    # -- components, created lazily -------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder(self.settings.embedding_model)
        if not self._checked_dim:
            dim = self._embedder.dim
            if dim != self.store.manifest.get("dimension"):
                raise IndexMismatchError(
                    f"index at {self.settings.index_dir} holds "
                    f"{self.store.manifest.get('dimension')}-dimensional vectors but "
                    f"{self._embedder.name} gives {dim}; rebuild it with `rag index --rebuild`"
                )
            self._checked_dim = True
        return self._embedder

    @property
    def hybrid(self) -> HybridRetriever:
        return HybridRetriever(self.store, self.embedder, top_k=self.settings.top_k)

    @property
    def retriever(self) -> LangChainRetriever:
        """A LangChain ``BaseRetriever`` over this index."""
        return LangChainRetriever(hybrid=self.hybrid, k=self.settings.top_k)

    @property
    def composer(self) -> ExtractiveComposer:
        if self._composer is None:
            self._composer = ExtractiveComposer(
                self.embedder, max_sentences=self.settings.max_answer_sentences
            )
        return self._composer

    @property
    def scorer(self) -> Checker:
        """The support checker (the trained model; loaded on first use)."""
        if self._scorer is None:
            from .verify import SupportScorer

            self._scorer = SupportScorer()
        return self._scorer

    @property
    def chain(self) -> AnswerChain:
        return AnswerChain(self)

    # -- documents ------------------------------------------------------------------
    def document_text(self, doc_id: str) -> str:
        return self.store.document_text(doc_id)

    def documents(self) -> list[DocInfo]:
        return self.store.documents()

    # -- answering ------------------------------------------------------------------
    def retrieve(self, question: str, top_k: int | None = None) -> list[Passage]:
        return self.hybrid.run(_check_question(question), top_k=top_k or self.settings.top_k)

    def check(self, text: str, top_k: int | None = None) -> CheckReport:
        """Check every sentence of ``text`` against the corpus (see ``rag.check``)."""
        k = top_k or self.settings.top_k
        hybrid = self.hybrid
        return check_text(text, lambda s: hybrid.run(s, top_k=k), self.scorer)

    def ask(self, question: str, top_k: int | None = None) -> Answer:
        """Answer ``question``; every sentence of ``Answer.text`` ends with its ``[n]``."""
        final: Answer | None = None
        for final in self.stream(question, top_k=top_k):  # noqa: B007 - the last one is final
            pass
        assert final is not None
        return final

    def stream(self, question: str, top_k: int | None = None) -> Iterator[Answer]:
        """Yield growing ``Answer`` snapshots, a verified sentence more each; the last is final."""
        question = _check_question(question)
        t0 = time.perf_counter()
        hybrid = self.hybrid
        k = top_k or self.settings.top_k
        if not self.generator.extractive:  # a language model: its sentences, verified
            passages = hybrid.run(question, top_k=k)
            yield from self.generator.answer(
                question, passages, self.scorer, {"retrieve": time.perf_counter() - t0},
                max_sentences=self.settings.max_answer_sentences,
            )
            return
        # The composer reads a few more passages than are shown; cited ones are always shown.
        pool = hybrid.run(question, top_k=k + COMPOSE_EXTRA)
        context = self._context(pool)
        t1 = time.perf_counter()
        comp = self.composer.run(question, pool, hybrid.last_query_vector, context)
        pool = pool + context
        t2 = time.perf_counter()
        cited = {s.passage for s in comp.sentences}
        keep = [i for i in range(len(pool)) if i < k or i in cited]
        remap = {old: new for new, old in enumerate(keep)}
        comp.sentences = [replace(s, passage=remap[s.passage]) for s in comp.sentences]
        passages = [pool[i] for i in keep]
        yield from self._answer(question, passages, comp, {"retrieve": t1 - t0, "compose": t2 - t1})

    def _context(self, pool: Sequence[Passage]) -> list[Passage]:
        """For each passage, the chunk before it, narrowed to the one sentence just before the
        passage starts, when no retrieved passage holds that sentence already."""
        out: list[Passage] = []
        seen = {p.chunk_id for p in pool}
        for p in pool:
            prev = self.store.previous_chunk(p.doc_id, p.start)
            if prev is None or prev.chunk_id in seen:
                continue
            before = [s for s in prev.sentences if s[1] <= p.start]
            if not before:
                continue
            s0 = before[-1][0]
            if not any(q.doc_id == p.doc_id and q.start <= s0 < q.end for q in pool):
                seen.add(prev.chunk_id)
                out.append(replace(prev, sentences=(before[-1],)))
        return out

    def _answer(
        self, question: str, passages: Sequence[Passage], comp: Composition, timings: dict
    ) -> Iterator[Answer]:
        citations: list[Citation] = []
        dropped: list[Dropped] = []
        parts: list[str] = [prompts.FALSE_PREMISE] if comp.premise_conflict else []
        t0 = time.perf_counter()
        pairs = [(sel.text, passages[sel.passage].text) for sel in comp.sentences]
        supports = self.scorer.score_many(pairs)
        for sel, support in zip(comp.sentences, supports, strict=True):
            p = passages[sel.passage]
            if not support.supported:
                dropped.append(Dropped(sel.text, "; ".join(support.reasons) or "unsupported",
                                       support.score))
                continue
            n = len(citations) + 1
            citations.append(Citation(n, p.doc_id, p.title, sel.text, sel.start, sel.end,
                                      p.chunk_id, p.outlet))
            parts.append(f"{sel.text} [{n}]")
            yield Answer(question, " ".join(parts), list(citations), list(passages),
                         abstained=comp.abstained, dropped=list(dropped))
        timings = {**timings, "verify": time.perf_counter() - t0}
        if not citations:
            yield Answer(question, prompts.ABSTAIN + (prompts.ABSTAIN_CLOSEST if passages else ""),
                         [], list(passages), abstained=True, dropped=dropped, timings=timings)
            if comp.reason:
                log.info("abstained on %r: %s", question, comp.reason)
            return
        yield Answer(question, " ".join(parts), citations, list(passages),
                     abstained=comp.abstained, dropped=dropped, timings=timings)


def _check_question(question: str) -> str:
    if not isinstance(question, str) or not question.strip():
        raise RagError('the question is empty; ask something, e.g. "Why won\'t Russia drop Assad?"')
    question = " ".join(question.split())
    if len(question) > 2000:
        raise RagError(f"the question is {len(question)} characters long; keep it under 2000")
    return question


class AnswerChain(Runnable[Any, Answer]):
    """``QA`` as a LangChain Runnable: input is a question string or ``{"question": ...}``."""

    def __init__(self, qa: QA) -> None:
        self.qa = qa

    @staticmethod
    def _question(value: Any) -> str:
        if isinstance(value, dict):
            value = value.get("question") or value.get("input")
        return str(value or "")

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Answer:
        return self.qa.ask(self._question(input))

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Answer]:
        yield from self.qa.stream(self._question(input))
