"""Answer: the one builder that turns a writer's sentences into checked, cited ``Answer``s.

Every answer writer (the extractive composer, a language model's draft) hands its sentences
to an ``AnswerBuilder`` as ``Claim`` records: the sentence as the user will read it and the
passages it cites, plus, for a sentence quoted verbatim, its exact document offsets. The
builder owns the rules both follow:

1. checking: each claim is checked by the support checker (``rag.verify.Checker``) against
   the passages it cites; a model's sentence that none of them supports is tried against
   every passage and re-pointed to the one that supports it; a verbatim quote belongs to
   its own passage and is never re-pointed. What no passage supports is dropped and
   recorded (``rag.types.Dropped``, with the reason);
2. numbering: citations are numbered ``[1]``, ``[2]``... in order of appearance; a sentence
   whose quote is already cited reuses that number. A citation quotes the document exactly:
   a verbatim sentence itself, else the span of the passage that supports the sentence;
3. the false-premise preface (``rag.prompts.FALSE_PREMISE``) when the writer found that the
   passages contradict the question, and the abstention text (``rag.prompts.ABSTAIN``) when
   nothing survives or the writer abstained;
4. streaming: ``extend`` and ``snapshot`` give growing ``Answer`` snapshots, one more kept
   sentence each; ``final`` gives the last one, with the timings.

It does not write sentences (``rag.compose``, ``rag.generate``, ``rag.draft``) or retrieve.

>>> from rag.lexical import LexicalScorer
>>> p = Passage("c1", "a.md", "A", "Moscow keeps a naval base in Tartus. It is in Syria.", 1.0,
...             start=100, end=152, sentences=((100, 136), (137, 152)))
>>> b = AnswerBuilder("Where?", [p], LexicalScorer())
>>> [a.text for a in b.extend([Claim("Moscow keeps a naval base in Tartus.", (1,), (100, 136)),
...                            Claim("Moscow keeps a naval base in Tartus.", (1,))])]
['Moscow keeps a naval base in Tartus. [1]', \
'Moscow keeps a naval base in Tartus. [1] Moscow keeps a naval base in Tartus. [1]']
>>> b.add(Claim("The base hosts ten thousand sailors from Brazil.", (1,)))
False
>>> final = b.final()
>>> final.citations[0].quote, final.citations[0].start, [d.sentence for d in final.dropped]
('Moscow keeps a naval base in Tartus.', 100, ['The base hosts ten thousand sailors from Brazil.'])
>>> AnswerBuilder("Where?", [p], LexicalScorer()).final().text
"The indexed articles don't answer this question. The closest passages are listed below."
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from . import prompts
from .types import Answer, Citation, Dropped, Passage
from .verify import Checker, Support

log = logging.getLogger(__name__)

__all__ = ["AnswerBuilder", "Claim", "Verified", "verify_claim"]


@dataclass(frozen=True)
class Claim:
    """A sentence offered for the answer.

    ``cited`` holds the 1-based numbers of the passages it cites, as a writer numbers them.
    ``quote`` is set when ``text`` is quoted verbatim from the (one) cited passage: the
    document offsets of the quote, so ``document_text(doc_id)[start:end] == text``.
    """

    text: str
    cited: tuple[int, ...] = ()
    quote: tuple[int, int] | None = None


@dataclass(frozen=True)
class Verified:
    """The verdict on one claim.

    ``passage`` is the 0-based index of the supporting passage (``None`` when dropped);
    ``repointed`` is True when it is not one the claim cited; ``support`` is the verdict of the
    chosen passage (or of the closest one, for a dropped claim).
    """

    sentence: Claim
    passage: int | None
    support: Support | None
    repointed: bool = False
    reason: str = ""

    @property
    def kept(self) -> bool:
        return self.passage is not None


def verify_claim(
    claim: Claim,
    passages: Sequence[Passage],
    checker: Checker,
    supports: Sequence[Support] | None = None,
) -> Verified:
    """Check ``claim`` against the passages it cites, then (unless it is a verbatim quote)
    against all of them. ``supports`` are the checker's verdicts on the cited passages when
    the caller scored them already (in one batch); the reason of a dropped claim names the
    passages that were tried."""
    texts = [p.text for p in passages]
    valid = [n - 1 for n in claim.cited if 1 <= n <= len(passages)]
    invalid = [n for n in claim.cited if not 1 <= n <= len(passages)]
    first: Support | None = None
    if valid:
        if supports is None:
            supports = checker.score_many([(claim.text, texts[i]) for i in valid])
        results = list(zip(valid, supports, strict=True))
        ok = [(i, s) for i, s in results if s.supported]
        if ok:
            i, s = max(ok, key=lambda r: r[1].score)
            return Verified(claim, i, s)
        first = max(results, key=lambda r: r[1].score)[1]
    if claim.quote is not None:  # a quote is its own passage's or nobody's
        reason = "; ".join(first.reasons) if first is not None else ""
        return Verified(claim, None, first, reason=reason or "unsupported")
    if not texts:
        return Verified(claim, None, None, reason="no passages")
    i, s = checker.best(claim.text, texts)
    if s.supported:
        return Verified(claim, i, s, repointed=True)
    if not claim.cited:
        why = "cites no passage"
    elif invalid and not valid:
        why = f"cites [{', '.join(map(str, invalid))}], which is not a given passage"
    else:
        why = f"not supported by the cited passage [{', '.join(str(n + 1) for n in valid)}]"
    tried = f"[1]-[{len(texts)}]" if len(texts) > 1 else "[1]"
    closest = first or s
    detail = "; ".join(closest.reasons)
    reason = (f"{why}; none of the {len(texts)} retrieved passages {tried} supports it "
              f"(closest: [{i + 1}], score {s.score:.2f})" + (f"; {detail}" if detail else ""))
    return Verified(claim, None, closest, reason=reason)


@dataclass
class AnswerBuilder:
    """Accumulates checked sentences into ``Answer`` snapshots (see the module docstring).

    ``abstained`` marks every answer built as an abstention that still quotes the passages
    (the writer found the question's premise contradicted: ``premise_conflict`` adds the
    preface saying so). ``timings`` are carried into the final answer, with ``verify`` (the
    time spent checking) added.
    """

    question: str
    passages: list[Passage]
    checker: Checker
    timings: dict[str, float] = field(default_factory=dict)
    abstained: bool = False
    premise_conflict: bool = False
    citations: list[Citation] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    verified: list[Verified] = field(default_factory=list)
    verify_time: float = 0.0
    _parts: list[str] = field(default_factory=list)

    @property
    def n_sentences(self) -> int:
        """Sentences kept so far."""
        return len(self._parts)

    def add(self, claim: Claim, supports: Sequence[Support] | None = None) -> bool:
        """Check ``claim`` and keep or drop it; True when it added a sentence."""
        t = time.perf_counter()
        v = verify_claim(claim, self.passages, self.checker, supports)
        self.verify_time += time.perf_counter() - t
        return self.record(v)

    def extend(self, claims: Iterable[Claim]) -> Iterator[Answer]:
        """``add`` each claim, the cited passages of all of them checked in one batch; a
        snapshot after each kept sentence."""
        claims = list(claims)
        t = time.perf_counter()
        n = len(self.passages)
        cited = [[i - 1 for i in c.cited if 1 <= i <= n] for c in claims]
        pairs = [(c.text, self.passages[i].text) for c, idx in zip(claims, cited, strict=True)
                 for i in idx]
        flat = iter(self.checker.score_many(pairs) if pairs else [])
        batches = [[next(flat) for _ in idx] for idx in cited]
        self.verify_time += time.perf_counter() - t
        for claim, supports in zip(claims, batches, strict=True):
            if self.add(claim, supports):
                yield self.snapshot()

    def record(self, v: Verified) -> bool:
        """Keep the sentence of a verdict (numbered, merged with an equal quote) or record
        it as dropped; True when kept."""
        self.verified.append(v)
        if v.passage is None:
            score = float(v.support.score) if v.support is not None else 0.0
            self.dropped.append(Dropped(v.sentence.text, v.reason or "unsupported", score))
            return False
        if v.repointed:
            log.info("re-pointed %r from %s to [%d]", v.sentence.text, v.sentence.cited,
                     v.passage + 1)
        p = self.passages[v.passage]
        if v.sentence.quote is not None:
            start, end = v.sentence.quote
            quote = v.sentence.text
        else:
            assert v.support is not None  # a kept sentence always has its support
            s, e = v.support.span
            start, end, quote = p.start + s, p.start + e, p.text[s:e]
        n = next((c.n for c in self.citations
                  if (c.doc_id, c.start, c.end) == (p.doc_id, start, end)), 0)
        if not n:
            n = len(self.citations) + 1
            self.citations.append(
                Citation(n, p.doc_id, p.title, quote, start, end, p.chunk_id, p.outlet)
            )
        self._parts.append(f"{v.sentence.text} [{n}]")
        return True

    def drop(self, sentence: str, reason: str, score: float = 0.0) -> None:
        """Record a sentence left out for a reason of the writer's own."""
        self.dropped.append(Dropped(sentence, reason, score))

    def _text(self) -> str:
        return " ".join([prompts.FALSE_PREMISE, *self._parts] if self.premise_conflict
                        else self._parts)

    def snapshot(self) -> Answer:
        """The answer so far (no timings: it is not final)."""
        return Answer(self.question, self._text(), list(self.citations), list(self.passages),
                      abstained=self.abstained, dropped=list(self.dropped))

    def final(self, abstain: bool = False, reason: str = "") -> Answer:
        """The final answer: the abstention text when ``abstain`` or nothing was kept (then
        ``reason``, the writer's, is logged), else the kept sentences; with the timings."""
        timings = {**self.timings, "verify": self.verify_time}
        if abstain or not self.citations:
            if reason:
                log.info("abstained on %r: %s", self.question, reason)
            text = prompts.ABSTAIN + (prompts.ABSTAIN_CLOSEST if self.passages else "")
            return Answer(self.question, text, [], list(self.passages), abstained=True,
                          dropped=list(self.dropped), timings=timings)
        return Answer(self.question, self._text(), list(self.citations), list(self.passages),
                      abstained=self.abstained, dropped=list(self.dropped), timings=timings)
