"""Follow-up questions: rewrite an elliptical question into a standalone one, without a model.

``condense(history, question)`` looks at the new question. When it leans on the conversation
(it starts with "and", "but", "so", "what about", "how about", or it holds an anaphor such as
"that", "it", "this", "they", "he", "she"), it is joined to the last *standalone* user question
of the history::

    "Why won't Russia drop Assad?" + "And why does that matter to Putin?"
    -> "Why won't Russia drop Assad, and why does that matter to Putin?"

The result still reads as a question and carries every content word the retriever needs.
A question that stands on its own, or one asked with no history, is returned unchanged
(whitespace normalised). This module uses no language model and resolves no coreference:
it does not replace pronouns with their antecedents, it only restores the missing context.

>>> condense([("Why won't Russia drop Assad?", "...")], "And why does that matter to Putin?")
"Why won't Russia drop Assad, and why does that matter to Putin?"
>>> condense([], "And why does that matter to Putin?")
'And why does that matter to Putin?'
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Openers that make a question continue the previous one.
_LEADS = ("what about", "how about", "and", "but", "so", "also", "then")
# Words that point back to something said before.
_ANAPHORS = frozenset(
    "that it this they them their theirs those these he she him her his hers its".split()
)
# After these words "that" introduces a clause ("is it true that ...") rather than pointing back.
_CLAUSE_HEADS = frozenset(
    "true say says said think thinks believe believes claim claims know knows fact so such "
    "given mean means suggest suggests show shows".split()
)
# Question words and auxiliaries that carry no content of their own.
_FUNCTION = frozenset(
    "what why how when where who whom whose which is are was were do does did will would can "
    "could should shall may might must has have had won't don't doesn't didn't isn't aren't "
    "the a an of to in on for about and but so also then that it this they them their those "
    "these he she him her his its there more tell me us please else".split()
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")


def _words(text: str) -> list[str]:
    return [w.lower().replace("’", "'") for w in _WORD.findall(text)]


def is_followup(question: str) -> bool:
    """True when ``question`` needs the conversation to be understood."""
    q = " ".join(question.split()).lower()
    if not q:
        return False
    words = _words(q)
    if not words:
        return False
    if any(q == lead or q.startswith(lead + " ") or q.startswith(lead + ",") for lead in _LEADS):
        return True
    for i, w in enumerate(words):
        if w in _ANAPHORS:
            if w == "that" and i > 0 and words[i - 1] in _CLAUSE_HEADS:
                continue
            if w == "it" and i + 1 < len(words) and words[i + 1] in ("true", "possible", "likely"):
                continue  # "is it true that ...": a dummy subject, not an anaphor
            return True
    # "Why?" / "How so?": nothing of its own to search for.
    return not any(w not in _FUNCTION for w in words)


def _strip_lead(question: str) -> str:
    """Drop a leading "and"/"but"/"so"/"also"/"then" (keep "what about ...")."""
    m = re.match(r"(?i)^(and|but|so|also|then)\b[\s,]*", question)
    rest = question[m.end():] if m else question
    return rest or question


def _anchor(history: Sequence[tuple[str, str]]) -> str | None:
    """The previous question to lean on: the latest user question that is standalone, or the
    latest one if every question so far was a follow-up."""
    questions = [" ".join(q.split()) for q, _ in history if q and q.strip()]
    for q in reversed(questions):
        if not is_followup(q):
            return q
    return questions[-1] if questions else None


def condense(history: Sequence[tuple[str, str]], question: str) -> str:
    """``question`` as a standalone question, using the (user question, answer) ``history``."""
    question = " ".join(str(question or "").split())
    if not question or not history or not is_followup(question):
        return question
    anchor = _anchor(history)
    if anchor is None:
        return question
    head = anchor.rstrip(" ?.!")
    tail = _strip_lead(question).rstrip(" ?.!")
    if not tail:
        return anchor
    first = tail.split()[0]
    if first.lower() in _FUNCTION or first.lower() in ("what", "how"):
        tail = first.lower() + tail[len(first):]  # "Why does ..." -> "why does ..."; names stay
    return f"{head}, and {tail}?"
