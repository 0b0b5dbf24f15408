"""Compose with the trained answer ranker: an extractive answer writer (no language model),
opt-in (``RAG_COMPOSER=ranked``); the default is still ``rag.compose`` (see below why).

From the retrieved passages it picks the sentences that answer the question and quotes them
verbatim, with their exact document offsets. The judgement is the trained answer ranker's
(``rag.ranker``), not word lists:

1. candidates: every sentence of the passages (and the sentence just before each retrieved
   passage); the ``rank_budget`` most promising, by word overlap with the question and by
   passage rank, go to the ranker, each with the sentence before it for context; a
   candidate's score is the ranker's logit plus the weighted cosine similarity of question
   and sentence (embedding model; the weight is fitted with the decision, see
   ``rag.ranker``);
2. a number, money or date question is answered only by a sentence that gives one (English
   grammar, not a corpus rule: "how many" wants a number);
3. abstain unless the calibrated decision says the best candidate answers the question
   (``AnswerRanker.answerable``: the ranker's best logit and the question's type, fitted on
   the calibration split);
4. a why-question's premise ("Why did Putin agree to let Assad step down?" takes for granted
   that he agreed) must not be negated by a top answer sentence ("he will not abandon
   Assad") and must be supported by some passage (the support checker); else the answer
   says so and quotes that sentence, or the one that comes closest, instead;
5. the answer is the best sentence, then others that the decision also finds answering, that
   score within ``margin`` of the best and do not restate a chosen sentence; for a question
   about several articles, the best answering sentence of each article first (margin aside);
6. a sentence whose subject is a bare pronoun ("It would deprive Moscow ...") carries the
   sentence before it, when that one is at hand; else it is passed over.

Every tunable is in ``ComposeParams`` with its meaning and range. It does not retrieve,
verify what it quotes, or number citations (see ``rag.chain``).

Why it is not the default: on the hand-written calibration questions (``python -m rag.train
report-composer``) it makes fewer key points than the word-overlap composer and abstains on
fewer unanswerable questions. The ranker was trained mostly on questions generated from news
sentences, which share more words with their answers than people's questions do; on
human-written questions its logits run lower and its first choice is more often wrong (see
``rag/models/ranker/MODEL_CARD.md``).
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .compose import (
    Composition,
    Selected,
    StoredVectors,
    _has_date,
    _has_number,
    quantity_check,
    sentence_vectors,
)
from .embed_base import Embedder
from .lexical import negated
from .question import is_multi_document, premise, question_type
from .ranker import AnswerRanker, Ranker, candidate_text
from .text import content_stems, numbers
from .types import Passage

__all__ = ["ComposeParams", "RankedComposer", "candidates", "question_type"]


@dataclass(frozen=True)
class ComposeParams:
    """The composer's tunables. None is fitted to ``corpus/``.

    - ``max_sentences`` (1-8): most sentences in an answer (a pronoun's antecedent may add
      one more);
    - ``rank_budget`` (8-64): candidates the ranker reads per question (the ranker costs
      ~1-2 ms per candidate on two cores);
    - ``margin`` (logits, 0-10): a further sentence must score within this of the best; fitted
      on the calibration split (``rag.train.abstain``: the margin under which at most 10% of
      the questions would add a sentence that does not answer) and read from the ranker's
      meta.json when it is there;
    - ``redundant`` (0-1): a sentence whose content words are this share or more of a chosen
      sentence's restates it and is left out;
    - ``premise_sentences`` (1-5): top-ranked sentences read for a negation of a
      why-question's premise.
    """

    max_sentences: int = 3
    rank_budget: int = 24
    margin: float = 3.0
    redundant: float = 0.6
    premise_sentences: int = 3

    def __post_init__(self) -> None:
        if self.max_sentences <= 0:
            raise ValueError(f"max_sentences must be > 0, got {self.max_sentences}")
        if self.rank_budget <= 0:
            raise ValueError(f"rank_budget must be > 0, got {self.rank_budget}")
        if self.margin < 0:
            raise ValueError(f"margin must be >= 0, got {self.margin}")
        if not 0 < self.redundant <= 1:
            raise ValueError(f"redundant must be in (0, 1], got {self.redundant}")


@dataclass
class _Cand:
    text: str
    doc_id: str
    start: int
    end: int
    passage: int
    previous: _Cand | None = None
    logit: float = -math.inf
    stems: frozenset[str] = frozenset()


# An imperative ("Don't launch any more strikes") states no fact that could negate a premise.
_IMPERATIVE = re.compile(r"(?:^|(?<=[:;\"“‘]))\s*(?:don[’']t|do not)\b[^.;:]*", re.I)
# A bare pronoun as subject, then a verb: "It would ...", "They have ...", "This means ...".
_PRONOUN_SUBJECT = re.compile(
    r"^(it|they|he|she|(this|that|these|those)\s+(is|was|are|were|would|will|could|can|"
    r"has|have|had|means?|meant|makes?|made|shows?|showed|may|might))\b", re.I)
def _has_money(text: str) -> bool:
    return bool(re.search(r"[$€£¥]|\b(dollars?|euros?|pounds?|roubles?|rubles?|kroner|krona|"
                          r"yen|yuan|rupees?|cents?)\b", text, re.I))


# What a sentence must hold to answer a question of the type (grammar, not corpus words).
TYPE_CHECKS = {"number": _has_number, "money": _has_money, "date": _has_date}


class RankedComposer:
    """Pick and order verbatim sentences (see the module docstring).

    >>> RankedComposer(max_sentences=0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: max_sentences must be > 0, got 0
    """

    def __init__(
        self,
        embedder: Embedder | None = None,
        max_sentences: int = ComposeParams.max_sentences,
        ranker: Ranker | None = None,
        checker: Any = None,
        params: ComposeParams | None = None,
    ) -> None:
        self.params = params or ComposeParams(max_sentences=max_sentences)
        self.embedder = embedder
        self._ranker = ranker
        self._checker = checker
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()  # concurrent first questions share one model of each

    @property
    def ranker(self) -> Ranker:
        if self._ranker is None:
            with self._lock:
                if self._ranker is None:
                    self._ranker = AnswerRanker()
        return self._ranker

    @property
    def checker(self) -> Any:
        if self._checker is None:
            from .verify import SupportScorer

            with self._lock:
                if self._checker is None:
                    self._checker = SupportScorer()
        return self._checker

    # -- public --------------------------------------------------------------------
    def run(
        self,
        question: str,
        passages: Sequence[Passage],
        query_vector: Any = None,
        context: Sequence[Passage] = (),
        stored: StoredVectors | None = None,
    ) -> Composition:
        """Compose from ``passages``; ``context`` passages (the sentence before a retrieved
        passage) are candidates too. ``Selected.passage`` indexes ``[*passages, *context]``.
        ``stored`` gives the sentence vectors the index holds (see ``rag.compose``)."""
        cands = candidates([*passages, *context])
        if not cands:
            return Composition(abstained=True, reason="no passages")
        qtype = question_type(question)
        check = quantity_check(question) or TYPE_CHECKS.get(qtype)
        pool = [c for c in cands if check is None or check(c.text)]
        if not pool:
            return Composition(abstained=True, reason=f"no sentence gives a {qtype}")
        pool = self._shortlist(question, pool)
        z = self.ranker.logits(question, [candidate_text(c.text, c.previous.text if c.previous
                                                         else "") for c in pool])
        for c, v, cos in zip(pool, z, self._cosines(pool, query_vector, stored), strict=True):
            c.logit = float(v) + cos
        ranked = sorted(pool, key=lambda c: -c.logit)
        best = ranked[0]
        ranker = self.ranker
        p_best = ranker.answerable(qtype, best.logit)
        threshold = ranker.threshold
        claim = premise(question)
        if claim is not None:
            conflict = self._premise_conflict(claim, passages, ranked, p_best >= threshold)
            if conflict is not None:
                return Composition(
                    sentences=_order(self._with_antecedents([conflict[0]])),
                    abstained=True, premise_conflict=True, reason=conflict[1],
                )
        if p_best < threshold:
            return Composition(abstained=True,
                               reason=f"best answer probability {p_best:.2f} < {threshold:.2f}")
        answering = [c for c in ranked if ranker.answerable(qtype, c.logit) >= threshold]
        near = [c for c in answering if c.logit >= best.logit - self._margin()]
        chosen = self._select(near, answering if is_multi_document(question) else [])
        return Composition(sentences=_order(self._with_antecedents(chosen)))

    # -- steps ---------------------------------------------------------------------
    def _premise_conflict(
        self, claim: str, passages: Sequence[Passage], ranked: list[_Cand], answerable: bool
    ) -> tuple[_Cand, str] | None:
        """The sentence to quote and why, when the passages do not bear out ``claim``: a top
        answer sentence negates it ("he will not abandon Assad" against "Putin agreed to
        abandon Assad"), or (for a question the ranker finds answerable; otherwise it
        abstains anyway) the support checker finds it in no passage."""
        c_stems = set(content_stems(claim))
        if not negated(claim)[0]:
            for c in ranked[: self.params.premise_sentences]:
                flipped = negated(_IMPERATIVE.sub(" ", c.text))[1].keys() & c_stems
                if flipped and len(c.stems & c_stems) >= 0.5 * len(c_stems):
                    return c, f"{c.text!r} negates the premise {claim!r}"
        if not answerable:
            return None
        i, support = self.checker.best(claim, [p.text for p in passages])
        if support.supported:
            return None
        # Quote what the passages say instead: the sentence where the checker found the
        # claim's best match, else the best answer.
        at = passages[i].start if i >= 0 else 0
        near = [c for c in ranked if c.passage == i and at + support.span[0] < c.end
                and c.start < at + support.span[1]]
        return (near or ranked)[0], f"no passage supports the premise {claim!r}"

    def _cosines(
        self, pool: list[_Cand], query_vector: Any, stored: StoredVectors | None = None
    ) -> list[float]:
        """Each candidate's weighted similarity to the question (see ``rag.ranker``): from the
        embedder the decision was fitted with, else its calibration mean for all."""
        ranker = self.ranker
        weight = ranker.cosine_weight(getattr(self.embedder, "name", None))
        if weight is None or query_vector is None or self.embedder is None:
            return [ranker.neutral_cosine()] * len(pool)
        sims = sentence_vectors(self.embedder, self._cache, [c.text for c in pool], stored) @ \
            np.asarray(query_vector)
        return [weight * float(s) for s in sims]


    def _margin(self) -> float:
        margin = getattr(self.ranker, "margin", None)
        return float(margin) if margin is not None else self.params.margin

    def _shortlist(self, question: str, cands: list[_Cand]) -> list[_Cand]:
        """The ``rank_budget`` candidates most worth the ranker's time: idf-weighted word
        overlap with the question, plus a bonus for the passage's retrieval rank."""
        budget = self.params.rank_budget
        if len(cands) <= budget:
            return cands
        q = set(content_stems(question))
        df: dict[str, int] = {}
        for c in cands:
            for w in c.stems & q:
                df[w] = df.get(w, 0) + 1
        idf = {w: math.log(1 + len(cands) / (1 + df.get(w, 0))) for w in q}
        total = sum(idf.values()) or 1.0
        score = {id(c): sum(idf[w] for w in c.stems & q) / total + 0.5 / (1 + c.passage)
                 for c in cands}
        return sorted(cands, key=lambda c: -score[id(c)])[:budget]

    def _select(self, near: list[_Cand], per_doc: list[_Cand]) -> list[_Cand]:
        """The best sentence, then further answering ones near it that are not restatements;
        for a multi-document question the best answering sentence of each article first."""
        chosen: list[_Cand] = []
        for c in per_doc:
            if all(d.doc_id != c.doc_id for d in chosen):
                chosen.append(c)
        for c in near:
            if len(chosen) >= self.params.max_sentences:
                break
            if c in chosen or any(self._restates(c, d) for d in chosen):
                continue
            chosen.append(c)
        return chosen[: self.params.max_sentences]

    def _restates(self, a: _Cand, b: _Cand) -> bool:
        if not a.stems or not b.stems:
            return a.text == b.text
        shared = len(a.stems & b.stems) / min(len(a.stems), len(b.stems))
        if numbers(a.text) & numbers(b.text):  # the same figure: half the words restate it
            return shared >= self.params.redundant / 2
        return shared >= self.params.redundant

    def _with_antecedents(self, chosen: list[_Cand]) -> list[_Cand]:
        """A sentence with a bare-pronoun subject brings the sentence before it, or goes."""
        out: list[_Cand] = []
        for c in chosen:
            if not _PRONOUN_SUBJECT.match(c.text):
                if c not in out:
                    out.append(c)
                continue
            if c.previous is None:
                continue
            if c.previous not in out:
                out.append(c.previous)
            out.append(c)
        return out


def candidates(passages: Sequence[Passage]) -> list[_Cand]:
    """Every sentence once, each linked to the sentence before it in its document when that
    one is among the passages too."""
    seen: dict[tuple[str, int], _Cand] = {}
    for pi, p in enumerate(passages):
        for s, e in p.sentences:
            if (p.doc_id, s) in seen:
                continue
            text = p.text[s - p.start : e - p.start]
            seen[(p.doc_id, s)] = _Cand(text, p.doc_id, s, e, pi,
                                        stems=frozenset(content_stems(text)))
    by_doc: dict[str, list[_Cand]] = {}
    for c in seen.values():
        by_doc.setdefault(c.doc_id, []).append(c)
    for doc in by_doc.values():
        doc.sort(key=lambda c: c.start)
        for a, b in zip(doc, doc[1:], strict=False):
            if 0 <= b.start - a.end <= 4:
                b.previous = a
    return list(seen.values())


def _order(chosen: list[_Cand]) -> list[Selected]:
    """Articles by their best sentence, then document order within an article."""
    doc_rank: dict[str, float] = {}
    for c in chosen:
        doc_rank[c.doc_id] = max(doc_rank.get(c.doc_id, -math.inf), c.logit)
    chosen = sorted(chosen, key=lambda c: (-doc_rank[c.doc_id], c.doc_id, c.start))
    return [Selected(c.text, c.doc_id, c.start, c.end, c.passage,
                     c.logit if math.isfinite(c.logit) else 0.0) for c in chosen]
