"""The support checker: does a passage support a sentence that cites it?

One checker serves everything that judges support: every sentence of an answer (extractive or
a language model's draft, checked against the passage it cites and, when that fails, against
every retrieved passage), ``QA.check`` for any text, and the eval suite.

The judgement is a cross-encoder trained here (``python -m rag.train support``; the model,
its card and its calibrated decision are in ``rag/models/support/``) that reads the sentence
and the passage together and gives a logit for "the passage supports it". One calibrated
decision combines that logit with those checks of ``rag.lexical`` that the calibration split
showed to add accuracy (candidates: a number, date or name of the sentence missing from the
passage; a negation flip; low word coverage; the word-overlap scorer's score):
``p = sigmoid(w . features + b)``, supported when ``p >= threshold``. The kept features, the
weights and the threshold live in the model's ``meta.json``. A sentence the passage holds
word for word is supported by rule (``_verbatim``).

The model reads a passage in windows, as it was trained (meta.json "window"): support-3 and
later read, per sentence, the few passage sentences that share most words with it, each with
its neighbours (``claim_windows``: short inputs the model compares word by word); support-1
read whole chunks. The best window counts. Scores are cached per (sentence, window),
so checking the same sentence again is free. Nothing here imports torch: the model runs on
onnxruntime, loaded on first use.

>>> checker = SupportScorer()
>>> passage = "The council approved the budget on Monday. It includes 59 new buses."
>>> checker.score("On Monday the council passed the budget.", passage).supported
True
>>> checker.score("The council did not approve the budget.", passage).supported
False
>>> s = checker.score("The budget includes 95 new buses.", passage)
>>> s.supported, "number 95 not in passage" in s.reasons
(False, True)
>>> passage[slice(*checker.score("The council approved the budget.", passage).span)]
'The council approved the budget on Monday.'
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .crossencoder import CrossEncoder, ModelFileError, model_dir
from .lexical import LexicalScorer, Support, negated
from .text import (
    content_stems,
    content_words,
    expand_negations,
    normalize_quotes,
    split_sentences,
)

__all__ = [
    "DECISION_FEATURES",
    "claim_windows",
    "model_input",
    "Checker",
    "Support",
    "SupportScorer",
    "decision_features",
    "negated",
]

MODEL = "support"
# How a model reads a passage is recorded in its meta.json ("window"); a model without that
# record (support-1) reads chunk windows:
WINDOW_CHARS = 1000  # a passage longer than this is read in windows of ...
WINDOW_SIZE, WINDOW_OVERLAP = 900, 1  # ... 900 characters, one sentence shared, as chunks are
# A model trained on claim windows (support-3 on) reads, for each sentence, the passage's
# CLAIM_WINDOWS sentences that share most content words with it, each with one neighbour on
# either side, cut to CLAIM_WINDOW_CHARS characters: a short input the model compares word by
# word, and one that training built by the same function (rag.train.support_data).
CLAIM_WINDOWS = 2
CLAIM_WINDOW_CHARS = 450
# The model never saw passages shorter than this in training (rag.train.support_data keeps
# chunks over 200 characters); on such a window (a byline, a headline) its score means little,
# so the word-overlap scorer must support the sentence too.
MIN_MODEL_WINDOW = 200
MIN_CLAIM_WORDS = 2  # a sentence with fewer content words states nothing that can be checked

# Candidate inputs of the decision. Calibration (rag.train.calibrate) keeps ``logit`` and
# those hard checks that add accuracy on the calibration split; meta.json names the kept ones.
DECISION_FEATURES: dict[str, str] = {
    "logit": "the support model's logit for (sentence, passage window)",
    "num_missing": "1 if a number of the sentence is not in the window",
    "name_missing": "1 if a name or date of the sentence is not in the window",
    "negation_flip": "1 if the sentence negates what the window states, or the reverse",
    "low_coverage": "1 if fewer than half of the sentence's content words are in the window",
    "lexical": "the word-overlap scorer's calibrated logit (rag.lexical): coverage of the "
               "sentence's content words and phrases by the window",
}


class Checker(Protocol):
    """What the pipeline needs of a support checker."""

    def score(self, sentence: str, passage: str) -> Support: ...

    def score_many(self, pairs: Sequence[tuple[str, str]]) -> list[Support]: ...

    def best(self, sentence: str, passages: Sequence[str]) -> tuple[int, Support]: ...


def decision_features(logit: float, lexical: LexicalScorer, sentence: str, window: str
                      ) -> tuple[dict[str, float], list[str], tuple[int, int]]:
    """The decision's inputs for one (sentence, window), the hard-check reasons that fired and
    the span of the best supporting sentences in the window."""
    feats, ev = lexical.analyse(sentence, window)
    failures = lexical.hard_failures(feats, ev)
    out = {
        "logit": float(logit),
        "num_missing": float(bool(ev["missing_numbers"])),
        "name_missing": float(bool(ev["missing_names"])),
        "negation_flip": float(
            bool(feats["neg_sentence"] or feats["neg_passage"])
            and feats["cov_win"] >= lexical.negation_coverage
        ),
        "low_coverage": float(bool(ev["n_content"]) and feats["cov_doc"] < lexical.min_coverage),
        "lexical": _logit(lexical.probability(feats)),
    }
    return out, failures, ev["span"]


def model_input(sentence: str, window: str) -> tuple[str, str]:
    """The (sentence, window) pair as the model reads it: contracted negations written out on
    both sides (``rag.text.expand_negations``), so that "does not see" against "doesn't see"
    is no mismatch of words. support-3 was trained on the text as it stands (so that
    ``python -m rag.train support`` reproduces it) and scored that true paraphrase at logit
    -4.9; with this at inference and the decision refitted on the calibration split, the
    calibration criterion held (0.8646 against 0.8640) and the claim set rose 0.524 -> 0.536.
    Applying it in training too is for the next model.

    >>> model_input("Moscow won't act.", "Moscow will not act.")
    ('Moscow will not act.', 'Moscow will not act.')
    """
    return expand_negations(sentence), expand_negations(window)


def claim_windows(
    sentence: str, passage: str, k: int = CLAIM_WINDOWS, max_chars: int = CLAIM_WINDOW_CHARS
) -> list[tuple[int, int]]:
    """(start, end) of the windows of ``passage`` a claim-window model reads for ``sentence``.

    A passage of at most ``max_chars`` characters is one window. Otherwise the ``k`` sentences
    sharing most content stems with ``sentence`` (the first on ties), each with the sentence
    before and after it while the window stays within ``max_chars`` (the one before is
    dropped first); identical windows count once; in passage order.

    >>> p = ("Russia vetoed the resolution on Tuesday. Diplomats were angry. The vote came late. "
    ...      "Talks will resume in May, officials said. Nobody expects a deal. " * 2)
    >>> [p[a:b] for a, b in claim_windows("Russia vetoed it.", p, k=1, max_chars=80)]
    ['Russia vetoed the resolution on Tuesday. Diplomats were angry.']
    >>> claim_windows("Anything.", "Short passage.")
    [(0, 14)]
    """
    if k <= 0 or max_chars <= 0:
        raise ValueError(f"k and max_chars must be > 0, got {k} and {max_chars}")
    text = passage.rstrip()
    if len(text) <= max_chars:
        return [(0, len(text))]
    spans = split_sentences(passage)
    if not spans:
        return [(0, len(text))]
    want = set(content_stems(sentence))
    overlap = [len(want & set(content_stems(passage[a:b]))) for a, b in spans]
    order = sorted(range(len(spans)), key=lambda i: (-overlap[i], i))[:k]
    out: list[tuple[int, int]] = []
    for i in order:
        lo, hi = i, i
        if i + 1 < len(spans) and spans[i + 1][1] - spans[lo][0] <= max_chars:
            hi = i + 1
        if i > 0 and spans[hi][1] - spans[i - 1][0] <= max_chars:
            lo = i - 1
        window = (spans[lo][0], spans[hi][1])
        if window not in out:
            out.append(window)
    return sorted(out)


def _checkable(sentence: str) -> bool:
    """Whether ``sentence`` states something a passage can support: enough content words, and
    not a lead-in ("He gave three reasons:")."""
    return len(content_words(sentence)) >= MIN_CLAIM_WORDS and not sentence.rstrip().endswith(":")


def _verbatim(sentence: str, window: str) -> tuple[int, int] | None:
    """Where ``window`` holds ``sentence`` word for word (quotes and spacing aside), if it does.

    A quote cannot misrepresent its own words, whatever the model thinks of them (it learnt to
    distrust "not" from the synthetic negations, and scores some verbatim negated sentences
    low), so an exact quote is supported by rule.

    >>> _verbatim("He  said ‘no’.", "Then he said 'no'. Later...")
    (5, 18)
    """
    s = " ".join(normalize_quotes(sentence).split())
    if len(s) < 12:
        return None
    m = _sentence_pattern(s).search(normalize_quotes(window))
    return (m.start(), m.end()) if m else None


@lru_cache(maxsize=4096)
def _sentence_pattern(sentence: str) -> re.Pattern[str]:
    """``sentence``'s words, any run of spaces between them (compiled once per sentence: re's
    own cache of 512 patterns was thrashed by answers' sentences)."""
    return re.compile(r"\s+".join(re.escape(t) for t in sentence.split(" ")), re.IGNORECASE)


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


@dataclass(frozen=True)
class Decision:
    """``p = sigmoid(weights . features + bias)``; supported when ``p >= threshold``."""

    features: tuple[str, ...] = ("logit",)
    weights: tuple[float, ...] = (1.0,)
    bias: float = 0.0
    threshold: float = 0.5

    def __post_init__(self) -> None:
        unknown = set(self.features) - set(DECISION_FEATURES)
        if unknown:
            raise ValueError(f"unknown decision features: {sorted(unknown)}")
        if len(self.features) != len(self.weights):
            raise ValueError(
                f"{len(self.features)} decision features but {len(self.weights)} weights"
            )
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be within (0, 1), got {self.threshold}")

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> Decision:
        d = meta.get("decision") or {}
        if not d:
            return cls()
        return cls(tuple(d["features"]), tuple(float(w) for w in d["weights"]),
                   float(d["bias"]), float(d["threshold"]))

    def probability(self, feats: dict[str, float]) -> float:
        z = sum(w * feats[f] for f, w in zip(self.features, self.weights, strict=True))
        z += self.bias
        return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))


class SupportScorer:
    """The trained support checker; see the module docstring.

    ``model`` is a model folder (default: the one shipped in ``rag/models/support``);
    ``threshold`` overrides the calibrated one (``0 < threshold < 1``).
    """

    def __init__(
        self,
        model: str | Path | None = None,
        threshold: float | None = None,
        cache_size: int = 4096,
    ) -> None:
        if threshold is not None and not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be within (0, 1), got {threshold}")
        if cache_size <= 0:
            raise ValueError(f"cache_size must be > 0, got {cache_size}")
        self.encoder = CrossEncoder(Path(model) if model is not None else model_dir(MODEL))
        self._threshold = threshold
        self._decision: Decision | None = None
        self._window: dict[str, Any] | None = None
        self.lexical = LexicalScorer(cache_size=256)
        self._cache: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    @property
    def decision(self) -> Decision:
        if self._decision is None:
            self._decision = Decision.from_meta(self.encoder.meta)
        return self._decision

    @property
    def threshold(self) -> float:
        return self._threshold if self._threshold is not None else self.decision.threshold

    @property
    def model_name(self) -> str:
        return str(self.encoder.meta.get("version", MODEL))

    # -- model scores, cached ------------------------------------------------------------------

    def logits(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """The model's logit for each (sentence, window); uncached pairs go in one batch."""
        with self._lock:
            todo = list(dict.fromkeys(p for p in pairs if p not in self._cache))
        if todo:
            values = self.encoder.logits([model_input(*p) for p in todo])
            with self._lock:
                for p, v in zip(todo, values, strict=True):
                    self._cache[p] = float(v)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        out = np.zeros(len(pairs), dtype=np.float64)
        missing = []
        with self._lock:
            for i, p in enumerate(pairs):
                v = self._cache.get(p)
                if v is None:  # evicted meanwhile by another thread
                    missing.append(i)
                else:
                    self._cache.move_to_end(p)
                    out[i] = v
        if missing:
            out[missing] = self.encoder.logits([model_input(*pairs[i]) for i in missing])
        return out

    @property
    def window(self) -> dict[str, Any]:
        """How the model reads a passage (meta.json "window"): ``{"mode": "claim", "k": ...,
        "max_chars": ...}`` or ``{"mode": "chunk"}`` (a model without the record)."""
        if self._window is None:
            w = self.encoder.meta.get("window") or {"mode": "chunk"}
            if w.get("mode") not in ("chunk", "claim"):
                raise ModelFileError(
                    f"{self.encoder.path / 'meta.json'} names an unknown window mode "
                    f"{w.get('mode')!r} (this code reads 'chunk' and 'claim'); retrain with "
                    "`python -m rag.train support` or use the matching rag version")
            self._window = dict(w)
        return self._window

    def windows(self, sentence: str, passage: str) -> list[tuple[int, int]]:
        """(start, end) of the windows the model reads ``passage`` in to judge ``sentence``."""
        w = self.window
        if w["mode"] == "claim":
            return claim_windows(sentence, passage, int(w.get("k", CLAIM_WINDOWS)),
                                 int(w.get("max_chars", CLAIM_WINDOW_CHARS)))
        if len(passage) <= WINDOW_CHARS:
            return [(0, len(passage))]
        from .chunk import chunk_document
        from .types import Document

        chunks = chunk_document(Document("_", passage, ""), WINDOW_SIZE, WINDOW_OVERLAP)
        return [(c.start, c.end) for c in chunks] or [(0, len(passage))]

    # -- the decision --------------------------------------------------------------------------

    def _judge(self, sentence: str, passage: str, start: int, end: int, logit: float) -> Support:
        window = passage[start:end]
        if not _checkable(sentence):
            return Support(0.0, False, ("the sentence states nothing that can be checked",),
                           (start, start))
        feats, failures, span = decision_features(logit, self.lexical, sentence, window)
        d = self.decision
        p = d.probability(feats)
        supported = p >= self.threshold
        reasons: list[str] = []
        overruled = False
        # A claim-window model was trained on windows of passages over MIN_MODEL_WINDOW
        # characters; a chunk-window model on such windows themselves.
        read = passage if self.window["mode"] == "claim" else window
        if supported and len(read.strip()) < MIN_MODEL_WINDOW:
            lexical = self.lexical.score(sentence, window)
            if not lexical.supported:
                supported, overruled = False, True
                p = min(p, lexical.score)
                reasons.append(f"passage too short for the model ({len(read.strip())} "
                               "characters) and its words do not support the sentence")
        if not supported:
            # What the hand checks found comes first (numbers, names, dates, negation): true
            # statements about the passage that help a reader see why, whether or not the
            # calibrated decision weighs them.
            reasons += [r for r in failures if not r.startswith("only")]
            if not overruled:  # else the model's score passed; the words overruled it
                reasons.append(f"support score {p:.2f} below {self.threshold:.2f}")
        else:
            reasons.append(f"support score {p:.2f}")
        return Support(round(p, 6), supported, tuple(reasons), (start + span[0], start + span[1]))

    def score_many(self, pairs: Sequence[tuple[str, str]]) -> list[Support]:
        """``score`` for many (sentence, passage) pairs, the model run in one batch on the
        pairs whose verdict needs it: a sentence a window holds word for word is supported by
        rule whatever the model says (``_verbatim``), so its pairs skip the model (an
        extractive answer's quotes cost no model time)."""
        quoted = [self._quoted(s, p) if p.strip() else None for s, p in pairs]
        spans = [self.windows(s, p) if p.strip() and q is None else []
                 for (s, p), q in zip(pairs, quoted, strict=True)]
        values = iter(self.logits([(s, p[a:b]) for (s, p), ws in zip(pairs, spans, strict=True)
                                   for a, b in ws]))
        out = []
        for (sentence, passage), ws, q in zip(pairs, spans, quoted, strict=True):
            if q is not None:
                out.append(q)
                continue
            if not ws:
                out.append(Support(0.0, False, ("empty passage",), (0, 0)))
                continue
            judged = [self._judge(sentence, passage, a, b, next(values)) for a, b in ws]
            out.append(max(judged, key=lambda j: (j.supported, j.score)))
        return out

    @staticmethod
    def _quoted(sentence: str, passage: str) -> Support | None:
        """The verdict on a sentence that ``passage`` holds word for word (supported, whatever
        the model would say), else None."""
        if not _checkable(sentence):
            return None
        quoted = _verbatim(sentence, passage)
        if quoted is None:
            return None
        return Support(1.0, True, ("the passage contains it word for word",), quoted)

    def score(self, sentence: str, passage: str) -> Support:
        """How well ``passage`` supports ``sentence``."""
        return self.score_many([(sentence, passage)])[0]

    def best(self, sentence: str, passages: Sequence[str]) -> tuple[int, Support]:
        """Index of the passage that best supports ``sentence`` (supported first, then by
        score; the first on ties) and its ``Support``. ``(-1, ...)`` for no passages."""
        if not passages:
            return -1, Support(0.0, False, ("no passages",), (0, 0))
        results = self.score_many([(sentence, p) for p in passages])
        i = max(range(len(results)), key=lambda k: (results[k].supported, results[k].score, -k))
        return i, results[i]

    def warm(self, sentences: Sequence[str], passages: Sequence[str]) -> None:
        """Score every (sentence, passage) pair in one batch, so later calls hit the cache."""
        self.score_many([(s, p) for s in sentences for p in passages])

    def summary_supported(self, sentences: Sequence[str], passage: str) -> bool:
        """True when ``passage`` supports every sentence (the summary-level decision)."""
        return all(s.supported for s in self.score_many([(x, passage) for x in sentences]))
