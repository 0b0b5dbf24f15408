"""Chain: the wiring from question to cited answer, and the public ``load`` / ``QA`` API.

``load(index_dir)`` opens an index (its database and vectors; the embedding model and the
support checker load on the first question) and returns a ``QA``. ``QA.ask`` / ``QA.stream``
run one path, whatever writes the answer:

1. with a conversation (``history``), rewrite a follow-up into a standalone question
   (``rag.followup.condense``);
2. retrieve the top passages, with the question's vector and the sentence before each
   passage (``rag.retrieve.HybridRetriever.search`` -> ``rag.types.Retrieval``);
3. let the generator write (``rag.generate``: the extractive composer by default, or a
   language model), its sentences going through the one answer builder (``rag.answer``),
   which checks every sentence against the passage it cites with the trained support checker
   (``rag.verify.SupportScorer``, the one the eval suite reports on), drops what is not
   supported, and numbers the citations in order of appearance; each is an exact quote with
   offsets.

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

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig

from .check import CheckReport, check_text
from .embed import Embedder, query_embedder
from .errors import IndexMismatchError, RagError
from .followup import History, condense
from .generate import Composer, ExtractiveGenerator, Generator, generator_from_settings
from .retrieve import HybridRetriever, LangChainRetriever
from .settings import Settings
from .store import DocInfo, Store, check_compatible
from .text import content_words
from .types import Answer, Passage, Retrieval
from .verify import Checker


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
        scorer: Checker | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.generator = generator or ExtractiveGenerator()
        self._embedder = embedder
        self._checked_dim = False
        self._scorer: Checker | None = scorer
        # Concurrent first questions must share one embedder and one support checker: two
        # threads that both found ``_scorer`` unset each loaded the model for themselves.
        self._lock = threading.Lock()

    # -- components, created lazily -------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            with self._lock:
                if self._embedder is None:
                    self._embedder = query_embedder(self.settings.embedding_model)
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
    def composer(self) -> Composer | None:
        """The extractive generator's composer, once it has answered (else None)."""
        return getattr(self.generator, "composer", None)

    @property
    def scorer(self) -> Checker:
        """The support checker (the trained model; loaded on first use)."""
        if self._scorer is None:
            from .verify import SupportScorer

            with self._lock:
                if self._scorer is None:
                    self._scorer = SupportScorer()
        return self._scorer

    @property
    def chain(self) -> AnswerChain:
        return AnswerChain(self)

    def reopened(self, store: Store) -> QA:
        """This QA over ``store`` (another generation of the index, after a re-index), with
        the same embedder, support checker and generator: their models stay loaded and their
        caches (keyed by texts, never by index rows) stay warm. A QA made afresh answered
        ~15x slower until it had refilled them (1.6 s instead of 0.1 s per question)."""
        return QA(store, self.settings, embedder=self._embedder, generator=self.generator,
                  scorer=self._scorer)

    # -- documents ------------------------------------------------------------------
    def document_text(self, doc_id: str) -> str:
        return self.store.document_text(doc_id)

    def documents(self) -> list[DocInfo]:
        return self.store.documents()

    # -- answering ------------------------------------------------------------------
    def retrieve(self, question: str, top_k: int | None = None) -> list[Passage]:
        return self.hybrid.run(_check_question(question), top_k=top_k or self.settings.top_k)

    def search(
        self, question: str, top_k: int | None = None, history: History | None = None
    ) -> Retrieval:
        """What retrieval finds for ``question``: passages, query vector, dense scores and
        the sentence before each passage (``rag.types.Retrieval``). With a ``history`` a
        follow-up is rewritten into a standalone question (``Retrieval.question``) and
        searched both ways, so its own words count twice."""
        asked = _check_question(question)
        standalone = condense(history, asked) if history else asked
        also = (asked,) if standalone != asked and content_words(asked) else ()
        k = top_k or self.settings.top_k
        return self.hybrid.search(standalone, top_k=k, context=True, also=also)

    def check(self, text: str, top_k: int | None = None) -> CheckReport:
        """Check every sentence of ``text`` against the corpus (see ``rag.check``)."""
        k = top_k or self.settings.top_k
        hybrid = self.hybrid
        return check_text(text, lambda s: hybrid.run(s, top_k=k), self.scorer)

    def ask(
        self, question: str, top_k: int | None = None, history: History | None = None
    ) -> Answer:
        """Answer ``question``; every sentence of ``Answer.text`` ends with its ``[n]``.

        ``history`` is the conversation so far: (question, answer) pairs, or chat messages
        (``{"role": "user" | "assistant", "content": ...}``); a follow-up question is
        rewritten with it (``Answer.standalone_question`` says how)."""
        final: Answer | None = None
        for final in self.stream(question, top_k=top_k, history=history):  # noqa: B007
            pass
        assert final is not None
        return final

    def stream(
        self, question: str, top_k: int | None = None, history: History | None = None
    ) -> Iterator[Answer]:
        """Yield growing ``Answer`` snapshots, a verified sentence more each; the last is final."""
        asked = _check_question(question)
        k = top_k or self.settings.top_k
        retrieval = self.search(asked, k + self.generator.extra_passages, history)
        for answer in self.generator.answer(
            retrieval.question, retrieval, self.scorer, top_k=k,
            max_sentences=self.settings.max_answer_sentences,
        ):
            yield replace(answer, question=asked, standalone_question=retrieval.question)


def _check_question(question: str) -> str:
    if not isinstance(question, str) or not question.strip():
        raise RagError('the question is empty; ask something, e.g. "Why won\'t Russia drop Assad?"')
    # A lone surrogate ("\ud800", from a broken client) cannot be encoded and would reach the
    # tokenizer as a TypeError: it becomes U+FFFD, like any other undecodable character.
    question = question.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    question = " ".join(question.split())
    if len(question) > 2000:
        raise RagError(f"the question is {len(question)} characters long; keep it under 2000")
    return question


class AnswerChain(Runnable[Any, Answer]):
    """``QA`` as a LangChain Runnable: input is a question string or ``{"question": ...,
    "history": [...]}`` (``history`` optional, as for ``QA.ask``)."""

    def __init__(self, qa: QA) -> None:
        self.qa = qa

    @staticmethod
    def _input(value: Any) -> tuple[str, History | None]:
        if isinstance(value, dict):
            return str(value.get("question") or value.get("input") or ""), value.get("history")
        return str(value or ""), None

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Answer:
        question, history = self._input(input)
        return self.qa.ask(question, history=history)

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Answer]:
        question, history = self._input(input)
        yield from self.qa.stream(question, history=history)
