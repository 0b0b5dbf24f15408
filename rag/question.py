"""Questions: what kind of answer a question asks for, and what a why-question takes for granted.

``question_type`` sorts a question by the answer it wants, the same types the answer ranker
was trained with (``rag.train.ranker_data``) and the abstention decision is fitted per type:

>>> [question_type(q) for q in ("How many missiles were fired?", "Why won't Russia act?",
...  "Who met Lavrov?", "When did the attack happen?", "What did Trump call Assad?")]
['number', 'why', 'person', 'date', 'other']

``premise`` turns a why-question into the statement it presupposes, which the support checker
can test against the passages (a false premise is a premise the best passage does not
support):

>>> premise("Why did Putin agree to let Assad step down?")
'Putin agree to let Assad step down.'
>>> premise("Why won't Russia drop Assad?")
"Russia won't drop Assad."
>>> premise("Why is the principle of non-interference so important to Russia?")
'The principle of non-interference is so important to Russia.'
>>> premise("Why could Russia's role in Syria be more dangerous?")
"Russia's role in Syria could be more dangerous."
>>> premise("What is the capital of Australia?") is None
True

Rules here are English grammar (wh-words, auxiliaries), not words of any corpus.
"""

from __future__ import annotations

import re

__all__ = ["AUXILIARIES", "QUESTION_TYPES", "question_type", "premise", "is_multi_document"]

QUESTION_TYPES = ("number", "money", "date", "person", "place", "why", "how", "other")

_AUX = ("did", "does", "do", "is", "are", "was", "were", "has", "have", "had", "will", "would",
        "can", "could", "should", "won't", "wouldn't", "can't", "couldn't", "didn't", "doesn't",
        "don't", "isn't", "aren't", "wasn't", "weren't", "hasn't", "haven't", "shouldn't")
AUXILIARIES = _AUX  # verbs a question inverts ("did Putin agree", "won't Russia drop")
_DO = ("did", "does", "do")
_DET = ("the", "a", "an", "this", "that", "these", "those", "its", "his", "her", "their")
_MULTI_DOC = re.compile(
    r"\b(both|each|two|all|different|the) (articles|pieces|sources|authors|analyses|outlets|"
    r"stories|reports)\b|\b(each|either) (article|piece|source|author|story|report)\b|"
    r"\b(compare|comparison|differ|disagree|agree)\b",
    re.I,
)


def question_type(question: str) -> str:
    """One of ``QUESTION_TYPES`` (see the module docstring)."""
    q = question.lower().strip().replace("’", "'")
    if re.search(r"\bhow much\b.*\b(cost|price|pay|paid|spend|spent|worth|money)\b", q) or \
            re.search(r"\bhow much (money|did .* cost)\b", q):
        return "money"
    if re.search(r"\bhow (many|much|long|old|far|big|large)\b", q) or re.match(
            r"^what (number|percentage|share|proportion)\b", q):
        return "number"
    if re.match(r"^(on |in )?(what|which) (year|date|day|month|time)\b", q) or \
            re.match(r"^when\b", q) or "since when" in q:
        return "date"
    if re.match(r"^(who|whom|whose)\b", q) or re.match(r"^(which|what) (person|official|man|"
                                                       r"woman|leader|minister)\b", q):
        return "person"
    if re.match(r"^(where|in which (country|city|place)|in what (country|city|place))\b", q):
        return "place"
    if re.match(r"^(why|how come|what (are|were|is|was) the reasons?|for what reason)\b", q) or \
            "why" in q.split():
        return "why"
    if re.match(r"^how\b", q):
        return "how"
    return "other"


def premise(question: str) -> str | None:
    """The statement a why-question presupposes, or None for other questions."""
    q = " ".join(question.strip().split()).replace("’", "'")
    m = re.match(r"^(?:why|how come)\s+(.*?)\??$", q, re.I)
    if not m:
        return None
    toks = m.group(1).split()
    if len(toks) < 2:
        return None
    if toks[0].lower() in _DO:  # "did Putin agree" -> "Putin agree"
        toks = toks[1:]
    elif toks[0].lower() in _AUX:  # "won't Russia drop" -> "Russia won't drop"
        aux, rest = toks[0], toks[1:]
        n = _predicate_start(rest)
        if n is None:  # the subject: a determiner and a word, or a run of names
            n = 1
            if rest and rest[0].lower() in _DET:
                n += 1
            while n < len(rest) and rest[n][:1].isupper():
                n += 1
        toks = [*rest[:n], aux.lower(), *rest[n:]]
    text = " ".join(toks)
    return text[:1].upper() + text[1:] + "."


# Words that open a predicate after the subject of an inverted question ("why is <subject> so
# important", "why could <subject> be", "why are <subject> not ..."); a participle does too.
_PREDICATE = frozenset("so such not never still now already also more less very too be been "
                       "being".split())


def _predicate_start(rest: list[str]) -> int | None:
    """Where the predicate starts in the words after an inverted auxiliary, if a predicate
    word or a participle (-ed, -ing) follows a subject of at least one word.

    >>> _predicate_start("the principle of non-interference so important".split())
    4
    >>> _predicate_start("the talks with the opposition stalled".split())
    5
    >>> _predicate_start("Russia drop Assad".split()) is None
    True
    """
    for j in range(1, len(rest)):
        w = rest[j].lower().strip(",")
        if w in _PREDICATE or (len(w) > 4 and w.endswith(("ed", "ing")) and
                               not rest[j][:1].isupper()):
            return j
    return None


def is_multi_document(question: str) -> bool:
    """Whether the question asks about several articles ("What do both articles say ...").

    >>> is_multi_document("How do the two articles explain Russia's stance?")
    True
    """
    return bool(_MULTI_DOC.search(question))
