"""Word-overlap support scorer and the hard checks: numbers, dates, names, negation.

The live checker is the trained support model (``rag.verify``); this module gives it the
checks that can be verified by hand (``hard_failures``: a number, date or name of the sentence
missing from the passage, a negation flip) and the span of the best supporting sentences,
and it aligns summary sentences to passages when training data is built. Its own logistic
score (``LexicalScorer.score``) is kept as an independent, model-free second opinion. It
combines features that can be checked by hand, computed in under a millisecond per sentence
once a passage has been analysed (sentence split, stems; ~10 ms for a 900-character chunk,
cached per scorer):

- coverage: the share of the sentence's content-word stems found in the passage and in the
  best window of one to three consecutive passage sentences (which also gives ``span``), and
  counts of the content words and adjacent content-word pairs (phrases) the passage lacks;
- a strict check that every number (digits or number words), date and name (capitalised
  words and runs of them, months, years, acronyms) in the sentence occurs in the passage;
- negation mismatch between the sentence and its best-matching passage sentence(s): one side
  negates a word ("did not attend") that the other states plainly;
- optionally, the cosine similarity (with an ``rag.embed.Embedder``) between the sentence and
  its most similar passage sentence; vectors are cached per text within a scorer instance.

A small logistic regression turns the soft features into a probability-like ``score``; its
weights and the threshold come from ``rag/scorer_params.json``, written by ``python -m
evals.calibrate_scorer``. A sentence is ``supported`` when its score reaches the threshold and
no hard check failed: a number, date or name missing from the passage, a clear negation flip,
or fewer than half of its content words in the passage.

It leaves out: real entailment (a passage that uses every word of a sentence but says the
opposite in other ways - antonyms, swapped roles - still scores high), coreference, number
arithmetic ("22%" vs "a fifth"), synonyms beyond shared stems and a few irregular verbs (the
embedding feature is meant for those, but gained nothing on the calibration data), and
anything about whether the passage itself is true.

>>> scorer = LexicalScorer()
>>> passage = "The council approved the budget on Monday. It includes 59 new buses."
>>> scorer.score("The budget includes 59 new buses.", passage).supported
True
>>> s = scorer.score("The budget includes 95 new buses.", passage)
>>> s.supported, s.reasons[0]
(False, 'number 95 not in passage')
>>> passage[slice(*scorer.score("The council approved the budget.", passage).span)]
'The council approved the budget on Monday.'
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .embed import Embedder
from .text import (
    NEGATIONS,
    STOPWORDS,
    content_stems,
    content_words,
    normalize_quotes,
    split_sentences,
    stem,
)

__all__ = [
    "FEATURE_SIGNS",
    "FEATURES",
    "LEXICAL_FEATURES",
    "LexicalScorer",
    "Support",
    "default_params",
    "load_params",
    "negated",
]

PARAMS_FILE = "scorer_params.json"
log = logging.getLogger(__name__)

# Feature names, in the order of the weight vectors. ``emb_max`` only exists with an embedder.
LEXICAL_FEATURES: tuple[str, ...] = (
    "cov_doc",  # share of the sentence's content stems found anywhere in the passage
    "cov_win",  # ... in the best window of 1-3 consecutive passage sentences
    "bigram_doc",  # share of adjacent content-stem pairs found (adjacent or one apart)
    "trigram_doc",  # share of word trigrams found verbatim
    "missing",  # log(1 + number of content stems not in the passage)
    "missing_win",  # log(1 + number of content stems not in the best window)
    "bigram_missing",  # log(1 + number of content-stem pairs not in the passage)
    "num_missing",  # numbers / number words not in the passage
    "ent_missing",  # name tokens not in the passage
    "neg_sentence",  # the sentence is negated, its best passage sentence(s) are not
    "neg_passage",  # the best passage sentence is negated, the sentence is not
)
FEATURES: tuple[str, ...] = (*LEXICAL_FEATURES, "emb_max")
# The direction each weight may take (calibration drops a feature whose fit disagrees):
# evidence of support may only raise the score, evidence against it only lower it.
FEATURE_SIGNS = {
    "cov_doc": 1,
    "cov_win": 1,
    "bigram_doc": 1,
    "trigram_doc": 1,
    "missing": -1,
    "missing_win": -1,
    "bigram_missing": -1,
    "num_missing": -1,
    "ent_missing": -1,
    "neg_sentence": -1,
    "neg_passage": -1,
    "emb_max": 1,
}

# Hand-set weights used when no calibrated parameters are available.
_DEFAULT_WEIGHTS = {
    "cov_doc": 3.0,
    "cov_win": 2.0,
    "bigram_doc": 1.5,
    "trigram_doc": 1.0,
    "missing": -1.0,
    "missing_win": -0.5,
    "bigram_missing": -0.5,
    "num_missing": -2.0,
    "ent_missing": -1.5,
    "neg_sentence": -2.0,
    "neg_passage": -1.0,
    "emb_max": 2.0,
}


@dataclass(frozen=True)
class Support:
    """How well a passage supports a sentence.

    ``score`` is the logistic model's probability from the soft features; the hard checks
    (numbers, names, dates, negation, minimum coverage) do not lower it but make
    ``supported`` false, and are listed first in ``reasons``.
    """

    score: float  # 0..1, calibrated probability-like
    supported: bool  # score >= threshold and no hard failure
    reasons: tuple[str, ...]  # human readable, for UI/debug, e.g. ("number 59 not in passage",)
    span: tuple[int, int]  # (start, end) in the passage of the best supporting sentence(s)


# --------------------------------------------------------------------------------------------
# Tokens, numbers, names

_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9'\-.]*[A-Za-z0-9]|[A-Za-z0-9]")
_NUM = re.compile(r"\d+(?:[.,]\d+)*")
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        """
            zero one two three four five six seven eight nine ten eleven twelve thirteen
            fourteen fifteen sixteen seventeen eighteen nineteen twenty
        """.split()
    )
}
_NUMBER_WORDS.update({"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70"})
_NUMBER_WORDS.update({"eighty": "80", "ninety": "90", "hundred": "100", "dozen": "12"})
_NUMBER_WORDS.pop("zero")
_NUMBER_WORDS.pop("one")  # "one of the ..." is rarely a count
_NAME_STOP = STOPWORDS | {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "cnn", "tv", "ceo", "pm", "ok"}
_INITIAL_PUNCT = set(":;\"('[")
_ACRONYM_SKIP = {"of", "the", "and", "for", "de", "la", "du"}
_NOT_NEGATING = {
    ("not", "only"),
    ("not", "just"),
    ("no", "doubt"),
    ("no", "matter"),
    ("nothing", "but"),
    ("not", "least"),
}
_MONTHS = frozenset(
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
# Irregular verb forms -> base form, so that "met" matches "meet" and "fled" matches "flee"
# (Snowball stems only strip suffixes). Ambiguous nouns (wound, ground, bit, saw) are left out.
_IRREGULAR_FORMS = """
    met:meet went:go gone:go took:take taken:take gave:give given:give made:make came:come
    found:find held:hold brought:bring bought:buy thought:think sought:seek fought:fight
    caught:catch taught:teach won:win lost:lose sent:send spent:spend built:build kept:keep
    fell:fall fallen:fall rose:rise risen:rise ran:run began:begin begun:begin wrote:write
    written:write spoke:speak spoken:speak knew:know known:know grew:grow grown:grow
    threw:throw thrown:throw drew:draw drawn:draw drove:drive driven:drive ate:eat eaten:eat
    chose:choose chosen:choose broke:break broken:break stole:steal stolen:steal froze:freeze
    frozen:freeze shot:shoot led:lead fled:flee paid:pay sold:sell stood:stand struck:strike
    hung:hang wore:wear worn:wear tore:tear torn:tear swore:swear sworn:swear hid:hide
    hidden:hide felt:feel dealt:deal meant:mean heard:hear slept:sleep sank:sink sunk:sink
    flew:fly flown:fly forgot:forget forgotten:forget forgave:forgive forgiven:forgive
    became:become shook:shake shaken:shake rode:ride ridden:ride fed:feed dug:dig
    withdrew:withdraw withdrawn:withdraw arose:arise arisen:arise lent:lend bent:bend
    swept:sweep wept:weep bound:bind sang:sing sung:sing swam:swim beaten:beat woke:wake
    woken:wake overtook:overtake overtaken:overtake undertook:undertake mistook:mistake
    understood:understand withheld:withhold upheld:uphold
"""
_CLAUSE = re.compile(r"[,;:.!?()\[\]\"]|\s-+\s")


@lru_cache(maxsize=1)
def _irregular() -> dict[str, str]:
    pairs = (item.split(":") for item in _IRREGULAR_FORMS.split())
    return {stem(form): stem(base) for form, base in pairs}


def _base(stem_: str) -> str:
    """The stem of a word's base form: ``_base(stem("met")) == stem("meet")``."""
    return _irregular().get(stem_, stem_)


def _stems(text: str) -> list[str]:
    """Content-word stems, irregular verb forms mapped to their base form."""
    return [_base(s) for s in content_stems(text)]


def _norm_number(n: str) -> str:
    n = n.replace(",", "")
    if "." in n:
        n = n.rstrip("0").rstrip(".") or "0"
    return n


def _numbers(text: str, word_list: Sequence[str]) -> set[str]:
    """Digits (``1,000`` -> ``1000``, ``2.50`` -> ``2.5``) and number words ``two``..``ninety``."""
    found = {_norm_number(n) for n in _NUM.findall(text)}
    found.update(_NUMBER_WORDS[w] for w in word_list if w in _NUMBER_WORDS)
    return found


def _clean(token: str) -> str:
    token = token.lower().strip("'-.")
    if token.endswith("'s"):
        token = token[:-2]
    return token


def _names(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """Names to check: runs of capitalised words, ``("Brice Robin", ("brice", "robin"))``.

    A capitalised word at the start of a sentence, clause or quote is an ordinary word as often
    as a name ("However", "Student"), so it is never checked itself; text in capitals
    (headlines) is skipped."""
    text = normalize_quotes(text)
    letters = [ch for ch in text if ch.isalpha()]
    if letters and sum(ch.isupper() for ch in letters) > 0.6 * len(letters):
        return []
    runs: list[list[tuple[str, bool]]] = []
    current: list[tuple[str, bool]] = []
    last_end = 0
    for m in _TOKEN.finditer(text):
        tok = m.group()
        gap = text[last_end : m.start()]
        before = text[max(0, m.start() - 3) : m.start()].rstrip()
        initial = not before or before[-1] in ".!?" or before[-1] in _INITIAL_PUNCT
        low = _clean(tok)
        capital = (
            tok[0].isupper() and not tok.isdigit() and (low not in _NAME_STOP or low in _MONTHS)
        )
        joined = bool(current) and gap.strip() in ("", "-", "&") and "\n" not in gap
        if capital and (joined or not current):
            current.append((tok, initial))
        elif capital:
            runs.append(current)
            current = [(tok, initial)]
        else:
            if current:
                runs.append(current)
            current = []
        last_end = m.end()
    if current:
        runs.append(current)
    names = []
    for run in runs:
        tokens = tuple(_clean(tok) for tok, initial in run if not initial and _clean(tok))
        if tokens:
            names.append((" ".join(tok for tok, _ in run), tokens))
    return names


def negated(text: str) -> tuple[frozenset[str], dict[str, str]]:
    """Negation words in ``text`` and the stems they negate (stem -> word): the first content
    word after each negation word, within its clause and skipping names. Idioms that negate
    nothing ("not only", "no doubt") are skipped. Also used by the composer's premise check.

    >>> negated("The minister did not attend the summit, officials said.")
    (frozenset({'not'}), {'attend': 'attend'})
    """
    words_found: set[str] = set()
    scope: dict[str, str] = {}  # stem -> word
    for clause in _CLAUSE.split(normalize_quotes(text)):
        pending = 0
        previous = ""
        for tok in _TOKEN.findall(clause):
            w = _clean(tok)
            if (previous, w) in _NOT_NEGATING:
                words_found.discard(previous)
                pending = 0
            elif w in NEGATIONS:
                words_found.add(w)
                pending = 1
            elif pending and w not in STOPWORDS and len(w) > 1 and not tok[0].isupper():
                scope.setdefault(stem(w), w)
                pending -= 1
            previous = w
    return frozenset(words_found), scope


def _acronyms(text: str) -> set[str]:
    """Initials of capitalised runs: "International Criminal Court" -> "icc"."""
    out = set()
    for run in re.finditer(
        r"(?:[A-Z][a-z]+(?:\s+(?:of|the|and|for)\s+|\s+)){1,6}[A-Z][a-z]+", text
    ):
        parts = [p for p in run.group().split() if p.lower() not in _ACRONYM_SKIP]
        if len(parts) >= 2:
            out.add("".join(p[0] for p in parts).lower())
    return out


def _words(text: str) -> list[str]:
    return [w for w in (_clean(t) for t in _TOKEN.findall(normalize_quotes(text))) if w]


def _trigrams(word_list: Sequence[str]) -> set[tuple[str, str, str]]:
    return set(zip(word_list, word_list[1:], word_list[2:], strict=False))


# --------------------------------------------------------------------------------------------
# Analysed texts (cached per scorer)


@dataclass
class _Claim:
    stems: frozenset[str]
    bigrams: frozenset[tuple[str, str]]
    trigrams: frozenset[tuple[str, str, str]]
    numbers: frozenset[str]
    names: tuple[tuple[str, tuple[str, ...]], ...]
    negations: frozenset[str]
    negated: frozenset[str]  # stems in the scope of a negation
    surface: dict[str, str]  # stem -> a word of the sentence, for messages


@dataclass
class _Passage:
    text: str
    spans: list[tuple[int, int]]
    sent_stems: list[frozenset[str]]
    sent_neg: list[frozenset[str]]  # negation words per sentence
    sent_negated: list[frozenset[str]]  # negated stems per sentence
    stems: frozenset[str]
    bigrams: frozenset[tuple[str, str]]
    trigrams: frozenset[tuple[str, str, str]]
    numbers: frozenset[str]
    words: frozenset[str]
    prefixes: dict[str, list[str]]
    acronyms: frozenset[str]


def _analyse_claim(sentence: str) -> _Claim:
    wl = _words(sentence)
    stems = _stems(sentence)
    neg_words, neg_scope = negated(sentence)
    return _Claim(
        stems=frozenset(stems),
        bigrams=frozenset(zip(stems, stems[1:], strict=False)),
        trigrams=frozenset(_trigrams(wl)),
        numbers=frozenset(_numbers(sentence, wl)),
        names=tuple(_names(sentence)),
        negations=neg_words,
        negated=frozenset(_base(x) for x in neg_scope),
        surface={_base(stem(w)): w for w in content_words(sentence)},
    )


def _analyse_passage(text: str) -> _Passage:
    spans = split_sentences(text) or [(0, len(text))]
    sent_stems, sent_neg, sent_negated = [], [], []
    bigrams: set[tuple[str, str]] = set()
    trigrams: set[tuple[str, str, str]] = set()
    all_words: set[str] = set()
    for s, e in spans:
        piece = text[s:e]
        wl = _words(piece)
        stems = _stems(piece)
        sent_stems.append(frozenset(stems))
        neg_words, neg_scope = negated(piece)
        sent_neg.append(neg_words)
        sent_negated.append(frozenset(_base(x) for x in neg_scope))
        bigrams.update(zip(stems, stems[1:], strict=False))
        bigrams.update(zip(stems, stems[2:], strict=False))  # allow one word in between
        trigrams.update(_trigrams(wl))
        all_words.update(wl)
    prefixes: dict[str, list[str]] = {}
    for w in all_words:
        if len(w) >= 4 and not w.isdigit():
            prefixes.setdefault(w[:4], []).append(w)
    return _Passage(
        text=text,
        spans=spans,
        sent_stems=sent_stems,
        sent_neg=sent_neg,
        sent_negated=sent_negated,
        stems=frozenset().union(*sent_stems),
        bigrams=frozenset(bigrams),
        trigrams=frozenset(trigrams),
        numbers=frozenset(_numbers(text, _words(text))),
        words=frozenset(all_words),
        prefixes=prefixes,
        acronyms=frozenset(_acronyms(normalize_quotes(text))),
    )


def _name_in(token: str, p: _Passage) -> bool:
    """A name token occurs in the passage: same word, same stem, an acronym, or a shared
    prefix (Israel / Israeli, Palestine / Palestinian)."""
    if token in p.words or _base(stem(token)) in p.stems or token in p.acronyms:
        return True
    if len(token) < 5:
        return False
    for w in p.prefixes.get(token[:4], ()):
        k = 4
        while k < min(len(w), len(token)) and w[k] == token[k]:
            k += 1
        if k >= 5 and k >= min(len(w), len(token)) - 3:
            return True
    return False


# --------------------------------------------------------------------------------------------
# Parameters


def default_params() -> dict[str, Any]:
    """Hand-set parameters, used when ``scorer_params.json`` is missing."""
    lexical = {
        "features": list(LEXICAL_FEATURES),
        "weights": [_DEFAULT_WEIGHTS[f] for f in LEXICAL_FEATURES],
        "bias": -4.5,
        "threshold": 0.5,
    }
    return {
        "version": 1,
        "models": {"lexical": lexical},
        "hard_fail": {"numbers": True, "names": True, "negation": True},
        "negation_coverage": 0.8,  # negation flips count when the window covers this much
        "min_coverage": 0.5,  # fewer content words than this share in the passage: unsupported
    }


def load_params(path: str | Path | None = None) -> dict[str, Any]:
    """Parameters from ``path``, else the packaged ``rag/scorer_params.json``, else defaults."""
    try:
        if path is not None:
            raw = Path(path).read_text(encoding="utf-8")
        else:
            raw = resources.files("rag").joinpath(PARAMS_FILE).read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):
        if path is not None:
            raise
        return default_params()
    params = json.loads(raw)
    merged = default_params()
    merged.update(params)
    return merged


# --------------------------------------------------------------------------------------------
# The scorer


class LexicalScorer:
    """Score how well a passage supports a sentence; see the module docstring.

    ``embedder`` adds the embedding-similarity feature; its weights are used when the params
    hold a model under ``embedder.name``, otherwise the lexical model is used and the embedder
    is ignored (``self.model_name`` says which). ``threshold`` overrides the calibrated one.
    """

    def __init__(
        self,
        embedder: Embedder | None = None,
        threshold: float | None = None,
        params: dict | None = None,
        cache_size: int = 256,
    ) -> None:
        self.params = load_params() if params is None else {**default_params(), **params}
        models = self.params["models"]
        if embedder is not None and embedder.name in models:
            self.model_name = embedder.name
            self.embedder: Embedder | None = embedder
        else:
            if embedder is not None:
                log.info("no scorer model for embedder %s; using the lexical one", embedder.name)
            self.model_name = "lexical"
            self.embedder = None
        model = models[self.model_name]
        self.features: tuple[str, ...] = tuple(model["features"])
        unknown = set(self.features) - set(FEATURES)
        if unknown:
            raise ValueError(f"scorer params use unknown features: {sorted(unknown)}")
        self.weights = np.asarray(model["weights"], dtype=np.float64)
        if self.weights.shape != (len(self.features),):
            raise ValueError(
                f"scorer params: {len(self.features)} features but {self.weights.size} weights"
            )
        self.bias = float(model["bias"])
        self.threshold = float(model["threshold"] if threshold is None else threshold)
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be within 0..1, got {self.threshold}")
        self.hard_fail = dict(self.params.get("hard_fail", {}))
        self.negation_coverage = float(self.params.get("negation_coverage", 0.8))
        self.min_coverage = float(self.params.get("min_coverage", 0.5))
        self._cache_size = cache_size
        self._passages: OrderedDict[str, _Passage] = OrderedDict()
        self._claims: OrderedDict[str, _Claim] = OrderedDict()
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    # -- caching ---------------------------------------------------------------------------

    def _cached(self, cache: OrderedDict, key: str, make: Any, limit: int) -> Any:
        with self._lock:
            if key in cache:
                cache.move_to_end(key)
                return cache[key]
        value = make(key)
        with self._lock:
            cache[key] = value
            while len(cache) > limit:
                cache.popitem(last=False)
        return value

    def _passage(self, text: str) -> _Passage:
        return self._cached(self._passages, text, _analyse_passage, self._cache_size)

    def _claim(self, text: str) -> _Claim:
        return self._cached(self._claims, text, _analyse_claim, self._cache_size * 16)

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for texts, each embedded once per scorer (LRU of 64 x cache_size texts)."""
        assert self.embedder is not None
        with self._lock:
            todo = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if todo:
            vecs = self.embedder.embed(todo)
            with self._lock:
                for t, v in zip(todo, vecs, strict=True):
                    self._vectors[t] = v
                while len(self._vectors) > self._cache_size * 64:
                    self._vectors.popitem(last=False)
        with self._lock:
            out = []
            for t in texts:
                v = self._vectors.get(t)
                if v is None:  # evicted meanwhile by another thread
                    v = self.embedder.embed([t])[0]
                out.append(v)
        return np.stack(out)

    def warm(self, sentences: Sequence[str], passages: Sequence[str]) -> None:
        """Analyse ``passages`` and, with an embedder, embed every sentence and passage
        sentence not yet cached in one batch (cheaper than one call per ``score``)."""
        analysed = [self._passage(p) for p in passages if p.strip()]
        if self.embedder is None or "emb_max" not in self.features:
            return
        pieces = [p.text[s:e] for p in analysed for s, e in p.spans]
        self._embed([*sentences, *pieces])

    # -- features ----------------------------------------------------------------------------

    def analyse(self, sentence: str, passage: str) -> tuple[dict[str, float], dict[str, Any]]:
        """All features of ``sentence`` against ``passage`` and the evidence behind them
        (window span, missing numbers/names/words, negation words); used by ``score`` and
        by calibration."""
        c = self._claim(sentence)
        p = self._passage(passage)
        n = len(c.stems)

        # Best window of 1-3 consecutive sentences by covered stems (smaller windows win ties).
        overlaps = [c.stems & s for s in p.sent_stems]
        best_cov, best_win = -1, (0, 1)
        for size in (1, 2, 3):
            for i in range(0, max(1, len(overlaps) - size + 1)):
                covered = len(frozenset().union(*overlaps[i : i + size]))
                if covered > best_cov:
                    best_cov, best_win = covered, (i, min(i + size, len(overlaps)))
        i0, i1 = best_win
        # Trim window sentences that add nothing.
        while i1 - i0 > 1 and not overlaps[i0]:
            i0 += 1
        while i1 - i0 > 1 and not overlaps[i1 - 1]:
            i1 -= 1
        span = (p.spans[i0][0], p.spans[i1 - 1][1])
        best_sent = max(range(i0, i1), key=lambda i: len(overlaps[i]))

        missing_stems = c.stems - p.stems
        cov_doc = 1.0 - len(missing_stems) / n if n else 1.0
        cov_win = max(best_cov, 0) / n if n else 1.0
        bigram_doc = len(c.bigrams & p.bigrams) / len(c.bigrams) if c.bigrams else cov_doc
        trigram_doc = len(c.trigrams & p.trigrams) / len(c.trigrams) if c.trigrams else cov_doc

        missing_numbers = sorted(c.numbers - p.numbers, key=lambda x: (len(x), x))
        missing_names = []
        for surface, tokens in c.names:
            absent = [t for t in tokens if not t.isdigit() and not _name_in(t, p)]
            if absent:
                missing_names.append((surface, absent))
        n_name_missing = sum(len(a) for _, a in missing_names)

        # Negation, judged against the passage sentences that share words with the sentence:
        # the sentence negates a word they state with no negation at all, or the best-matching
        # passage sentence negates a word the (un-negated) sentence states.
        win = [i for i in range(i0, i1) if overlaps[i]] or [best_sent]
        win_stems = frozenset().union(*(p.sent_stems[i] for i in win))
        passage_negations = frozenset().union(*(p.sent_neg[i] for i in win))
        flipped_s = c.negated & win_stems if c.negations and not passage_negations else set()
        best_cover = len(overlaps[best_sent]) / n if n else 0.0
        flipped_p: set[str] | frozenset[str] = set()
        if not c.negations and best_cover >= 0.5:
            flipped_p = p.sent_negated[best_sent] & c.stems
        neg_sentence = float(bool(flipped_s))
        neg_passage = float(bool(flipped_p))
        if flipped_p:
            passage_negations = p.sent_neg[best_sent]

        feats = {
            "cov_doc": cov_doc,
            "cov_win": cov_win,
            "bigram_doc": bigram_doc,
            "trigram_doc": trigram_doc,
            "missing": math.log1p(len(missing_stems)),
            "missing_win": math.log1p(n - max(best_cov, 0)),
            "bigram_missing": math.log1p(len(c.bigrams - p.bigrams)),
            "num_missing": float(len(missing_numbers)),
            "ent_missing": float(n_name_missing),
            "neg_sentence": neg_sentence,
            "neg_passage": neg_passage,
        }
        if "emb_max" in self.features and self.embedder is not None:
            pieces = [passage[s:e] for s, e in p.spans]
            vecs = self._embed([sentence, *pieces])
            sims = vecs[1:] @ vecs[0]
            feats["emb_max"] = float(sims.max()) if len(sims) else 0.0
        evidence = {
            "span": span,
            "best_sentence": p.spans[best_sent],
            "missing_stems": sorted(missing_stems),
            "missing_words": sorted(c.surface.get(x, x) for x in missing_stems),
            "missing_numbers": missing_numbers,
            "missing_names": missing_names,
            "sentence_negations": sorted(c.negations),
            "passage_negations": sorted(passage_negations),
            "negation_flipped": sorted(c.surface.get(x, x) for x in flipped_s | flipped_p),
            "n_content": n,
        }
        return feats, evidence

    def vector(self, feats: dict[str, float]) -> np.ndarray:
        return np.array([feats.get(f, 0.0) for f in self.features], dtype=np.float64)

    def probability(self, feats: dict[str, float]) -> float:
        z = float(self.vector(feats) @ self.weights) + self.bias
        return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))

    def hard_failures(self, feats: dict[str, float], evidence: dict[str, Any]) -> list[str]:
        """Reasons that make a sentence unsupported whatever its score."""
        out = []
        if self.hard_fail.get("numbers", True):
            out += [f"number {n} not in passage" for n in evidence["missing_numbers"]]
        if self.hard_fail.get("names", True):
            for surface, absent in evidence["missing_names"]:
                if all(a in _MONTHS for a in absent):
                    out.append(f"date {surface!r} not in passage")
                elif len(absent) == 1 and absent[0] == surface.lower():
                    out.append(f"name {surface!r} not in passage")
                else:
                    out.append(f"name {surface!r} not in passage ({', '.join(absent)})")
        n = evidence["n_content"]
        if n and feats["cov_doc"] < self.min_coverage:
            found = n - len(evidence["missing_stems"])
            out.append(f"only {found} of {n} content words in passage")
        if self.hard_fail.get("negation", True) and feats["cov_win"] >= self.negation_coverage:
            what = ", ".join(evidence["negation_flipped"])
            if feats["neg_sentence"]:
                neg = "/".join(evidence["sentence_negations"])
                out.append(
                    f"negation mismatch: the sentence says {neg!r} ({what}), the passage does not"
                )
            elif feats["neg_passage"]:
                neg = "/".join(evidence["passage_negations"])
                out.append(
                    f"negation mismatch: the passage says {neg!r} ({what}), the sentence does not"
                )
        return out

    # -- public API ----------------------------------------------------------------------------

    def score(self, sentence: str, passage: str) -> Support:
        """How well ``passage`` supports ``sentence``."""
        if not passage.strip():
            return Support(0.0, False, ("empty passage",), (0, 0))
        feats, ev = self.analyse(sentence, passage)
        prob = self.probability(feats)
        failures = self.hard_failures(feats, ev)
        reasons = list(failures)
        if ev["missing_words"]:
            shown = ", ".join(ev["missing_words"][:8])
            more = ", ..." if len(ev["missing_words"]) > 8 else ""
            reasons.append(f"content words not in passage: {shown}{more}")
        if not ev["n_content"]:
            reasons.append("no content words to check")
        if "emb_max" in feats:
            reasons.append(f"similarity {feats['emb_max']:.2f} to the closest passage sentence")
        supported = prob >= self.threshold and not failures
        if prob < self.threshold:
            reasons.append(f"score {prob:.2f} below threshold {self.threshold:.2f}")
        return Support(round(prob, 6), supported, tuple(reasons), ev["span"])

    def score_many(self, pairs: Sequence[tuple[str, str]]) -> list[Support]:
        """``score`` for each (sentence, passage) pair."""
        return [self.score(s, p) for s, p in pairs]

    def best(self, sentence: str, passages: Sequence[str]) -> tuple[int, Support]:
        """Index of the passage that best supports ``sentence`` (supported first, then by
        score; the first on ties) and its ``Support``. ``(-1, ...)`` for no passages."""
        if not passages:
            return -1, Support(0.0, False, ("no passages",), (0, 0))
        results = [self.score(sentence, p) for p in passages]
        i = max(range(len(results)), key=lambda k: (results[k].supported, results[k].score, -k))
        return i, results[i]

    def summary_supported(self, sentences: Sequence[str], passage: str) -> bool:
        """True when every sentence is supported by ``passage`` (the summary-level decision)."""
        return all(self.score(s, passage).supported for s in sentences)
