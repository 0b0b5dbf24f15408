"""Follow-up questions: rewrite an elliptical question into a standalone one, without a model.

``condense(history, question)`` looks at the new question. When it leans on the conversation
(it starts with "and", "but", "so", "what about", "how about", or it holds an anaphor such as
"that", "it", "this", "they", "he", "she"), it is rewritten so that it can be searched alone,
*keeping its own words as the query*: only the previous question's topic (its names and noun
phrases, not its verbs or question words) is added, as few words as resolve the reference.
Searching with the whole previous question would find the earlier answer again.

- a pronoun for a person ("he", "she", "her") becomes the previous question's name, when it
  names one person::

    "Who is Ania Viver?" + "Where did she study?" -> "Where did Ania Viver study?"

- any other reference ("that", "it", "they") keeps its word and gets the topic it points
  to in parentheses (the previous question's noun phrases; a person's name only when there
  is nothing else, since "it" and "that" point at a thing or an event)::

    "Why did the US strike the Shayrat air base?" + "And how did Moscow respond to that?"
    -> "How did Moscow respond to that (US, Shayrat air base)?"

- a question with nothing of its own to search for ("Why?", "How so?") or one that swaps
  the subject ("What about Iran?") is joined to the last standalone question:
  "Why won't Russia drop Assad, and what about Iran?".

The previous question is the last one as it was searched (itself condensed when it was a
follow-up), so a chain of follow-ups keeps its topic. A question that stands on its own, or
one asked with no history, is returned unchanged (whitespace normalised). The topic is found
by word shape, not by a parser: capitalised words are names; a noun phrase follows "the",
"a", a preposition or "how many"; the word after a question's subject is its verb and left
out. ``as_turns`` accepts the forms a history comes in (pairs, chat messages).

>>> condense([("Why won't Russia drop Assad?", "...")], "And why does that matter to Putin?")
'Why does that matter to Putin (Russia, Assad)?'
>>> condense([], "And why does that matter to Putin?")
'And why does that matter to Putin?'
>>> topic("How many Tomahawk missiles did the US fire at the Shayrat air base?")
['Tomahawk missiles', 'US', 'Shayrat air base']
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import RagError
from .text import STOPWORDS, clean_code_points, stem

__all__ = ["History", "as_turns", "condense", "is_followup", "topic"]

# A conversation: (question, answer) pairs, chat messages ({"role", "content"}) or turns
# ({"question", "answer"}); see ``as_turns``.
History = Sequence[Sequence[str] | Mapping[str, Any]]

MAX_TOPIC = 3  # noun phrases added to resolve a reference, at most
MAX_TURNS = 6  # earlier turns read to resolve a chain of follow-ups

# Openers that make a question continue the previous one.
_LEADS = ("what about", "how about", "and", "but", "so", "also", "then")
# Words that point back to something said before.
_ANAPHORS = frozenset(
    "that it this they them their theirs those these he she him her his hers its".split()
)
_PERSONAL = frozenset("he she him her his hers".split())
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
_AUX = frozenset(
    "is are was were do does did will would can could should shall may might must has have had "
    "won't don't doesn't didn't isn't aren't wasn't weren't can't cannot couldn't wouldn't "
    "shouldn't hasn't haven't hadn't".split()
)
_DETERMINERS = frozenset("the a an its their his her our your my this these those that".split())
_PREPOSITIONS = frozenset(
    "in on at of for from with about against over under after before during into by near "
    "since between among across toward towards behind".split()
)
_WH_DETERMINERS = ("how many", "how much", "what", "which", "whose")
_QUESTION_WORDS = frozenset("what why how when where who whom whose which".split())
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’.-]*[A-Za-z0-9]|[A-Za-z0-9]|[^\sA-Za-z0-9]")


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


def as_turns(history: History | None) -> list[tuple[str, str]]:
    """The (question, answer) pairs of a conversation given as pairs, as chat messages
    (``{"role": "user" | "assistant", "content": ...}``, as Gradio and OpenAI write them) or
    as ``{"question", "answer"}`` turns.

    >>> as_turns([{"role": "user", "content": "Why?"}, {"role": "assistant", "content": "So."}])
    [('Why?', 'So.')]
    >>> as_turns([["Why?", "So."], {"question": "And?"}])
    [('Why?', 'So.'), ('And?', '')]
    """
    turns: list[tuple[str, str]] = []
    for item in history or ():
        if isinstance(item, str):
            turns.append((_content(item), ""))
        elif isinstance(item, Mapping) and "role" in item:
            role = str(item.get("role", "")).lower()
            content = _content(item.get("content"))
            if role in ("user", "human"):
                turns.append((content, ""))
            elif role in ("assistant", "ai", "bot") and turns and not turns[-1][1]:
                turns[-1] = (turns[-1][0], content)
        elif isinstance(item, Mapping) and "question" in item:
            answer = item.get("answer", item.get("text", ""))
            turns.append((_content(item["question"]), _content(answer)))
        elif isinstance(item, Sequence) and 1 <= len(item) <= 2:
            turns.append((_content(item[0]), _content(item[1]) if len(item) == 2 else ""))
        else:
            raise RagError(
                "each item of the history must be a (question, answer) pair or a chat message "
                f'{{"role": ..., "content": ...}}; got {str(item)[:80]!r}'
            )
    return [(q, a) for q, a in turns if q.strip()]


def _content(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):  # content blocks
        return " ".join(_content(v.get("text") if isinstance(v, Mapping) else v) for v in value)
    # A lone surrogate from a client would reach the tokenizer in the condensed question.
    return clean_code_points(str(value))


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


def _join(anchor: str, question: str) -> str:
    """The follow-up appended to ``anchor``: "Why won't Russia drop Assad, and why?"."""
    head = anchor.rstrip(" ?.!")
    tail = _strip_lead(question).rstrip(" ?.!")
    if not tail:
        return anchor
    first = tail.split()[0]
    if first.lower() in _FUNCTION or first.lower() in ("what", "how"):
        tail = first.lower() + tail[len(first):]  # "Why does ..." -> "why does ..."; names stay
    return f"{head}, and {tail}?"


def _kind(token: str, first: bool) -> str:
    """``name`` (capitalised), ``word`` (a lower-case content word), ``function`` or ``stop``
    (punctuation: ends a phrase)."""
    if not token[0].isalnum():
        return "stop"
    low = token.lower().replace("’", "'")
    if token[0].isupper() and not (first and (low in STOPWORDS or low in _QUESTION_WORDS)):
        return "function" if low == "i" else "name"
    if low in STOPWORDS or low in _FUNCTION or low in _AUX:
        return "function"
    return "word"


def topic(question: str) -> list[str]:
    """The names and noun phrases of ``question``, in order, without its verbs.

    A phrase is a run of names and content words; lower-case words count only after a
    determiner, a preposition, "how many"/"which"/"what" or a subject's verb. The words
    right after an auxiliary are the subject, and the subject's verb is left out ("did the
    US *strike* the base").

    >>> topic("Why won't Russia drop Assad?"), topic("Who is Ania Viver?")
    (['Russia', 'Assad'], ['Ania Viver'])
    >>> topic("What did Konstantin Kosachev say about the military hotline?")
    ['Konstantin Kosachev', 'military hotline']
    """
    tokens = _TOKEN.findall(question)
    kinds = [_kind(t, i == 0) for i, t in enumerate(tokens)]
    lows = [t.lower().replace("’", "'") for t in tokens]
    phrases: list[str] = []
    i = 0
    while i < len(tokens):
        if kinds[i] not in ("name", "word"):
            i += 1
            continue
        j = i
        while j < len(tokens) and kinds[j] in ("name", "word"):
            j += 1
        run = list(range(i, j))
        before = _previous_words(lows, i)
        # After an auxiliary comes the subject ("did *the US* strike", "won't *Russia* drop"),
        # unless the words are lower-case and bare: a participle ("were *launched*").
        named = any(kinds[k] == "name" for k in run)
        subject = bool(before) and ((before[0] in _AUX and named) or (
            before[0] in _DETERMINERS and len(before) > 1 and before[1] in _AUX))
        if subject and len(run) > 1:
            verb = _verb_of_subject(run, kinds)
            if verb is not None:  # "did the US strike", "won't Russia drop Assad"
                phrases.append(" ".join(tokens[k] for k in run if k < verb))
                phrases.append(" ".join(tokens[k] for k in run if k > verb))
                i = j
                continue
        listed = not before and (j >= len(tokens) or kinds[j] == "stop")  # "(US, Syria)"
        nominal = subject or listed or _after_wh_determiner(before) or (
            bool(before) and (before[0] in _DETERMINERS or before[0] in _PREPOSITIONS))
        if nominal:
            phrases.append(" ".join(tokens[k] for k in run))
        else:  # a verb and its neighbours: keep only the names
            phrases.extend(tokens[k] for k in run if kinds[k] == "name")
        i = j
    out: list[str] = []
    for p in phrases:
        if p and p not in out:
            out.append(p)
    return out


def _previous_words(lows: list[str], i: int) -> list[str]:
    """The words before position ``i``, nearest first, up to a punctuation mark."""
    out = []
    for k in range(i - 1, -1, -1):
        if not lows[k][0].isalnum():
            break
        out.append(lows[k])
    return out


def _after_wh_determiner(before: list[str]) -> bool:
    text = " ".join(reversed(before[:2]))
    return any(text == wh or text.endswith(" " + wh) for wh in _WH_DETERMINERS)


def _verb_of_subject(run: list[int], kinds: list[str]) -> int | None:
    """The position of the verb in a run that starts with a subject: the first lower-case
    word after a name ("Russia *veto* sanctions"), else the last lower-case word before a name
    or the end ("the military hotline *freeze*", "the opposition *urge* Russia")."""
    if kinds[run[0]] == "name":
        return next((k for k in run if kinds[k] == "word"), None)
    verb = None
    for k in run[1:]:
        if kinds[k] == "word":
            verb = k
        elif verb is not None:
            break
    return verb


def _own_words(question: str) -> set[str]:
    return {stem(w) for w in _words(question) if w not in _FUNCTION and w not in STOPWORDS}


def _resolve(question: str, anchor: str) -> str:
    """``question`` with its reference to ``anchor`` resolved (see the module docstring);
    the question's own text is kept as written, only names and a note are put in."""
    own = _own_words(question)
    phrases = [p for p in topic(anchor) if not {stem(w) for w in _words(p)} <= own]
    if not phrases:
        return question
    names = [p for p in phrases if _is_name(p)]
    people = [p for p in names if len(p.split()) > 1]  # "Ania Viver", "Jim Mattis"
    person = people[0] if people else (names[0] if len(names) == 1 else None)
    tokens = list(_TOKEN.finditer(question))
    lows = [m.group().lower().replace("’", "'") for m in tokens]
    edits: list[tuple[int, int, str]] = []  # (start, end, replacement) in ``question``
    if person is not None:
        for k, w in enumerate(lows):
            if w in _PERSONAL:
                nxt = _kind(tokens[k + 1].group(), False) if k + 1 < len(tokens) else "stop"
                possessive = w in ("his", "hers") or (w == "her" and nxt in ("name", "word"))
                edits.append((tokens[k].start(), tokens[k].end(),
                              person + ("'s" if possessive else "")))
        if edits:
            phrases = [p for p in phrases if p != person]
    if not edits or any(w in _ANAPHORS - _PERSONAL for w in lows):
        # "it", "that", "they" point at a thing or an event rather than at a person.
        things = [p for p in phrases if p not in people] or phrases
        if things:
            note = "(" + ", ".join(things[:MAX_TOPIC]) + ")"
            at = next((tokens[k].end() for k, w in enumerate(lows)
                       if w in _ANAPHORS - _PERSONAL and (k + 1 >= len(tokens) or _kind(
                           tokens[k + 1].group(), False) in ("stop", "function"))), None)
            if at is None:  # "that strike", or only a leading "and": the note goes last
                at = len(question.rstrip(" ?.!"))
            edits.append((at, at, " " + note))
    for start, stop, text in sorted(edits, reverse=True):
        question = question[:start] + text + question[stop:]
    return question


def _is_name(phrase: str) -> bool:
    return all(w[0].isupper() for w in phrase.split())


def _capitalise(question: str) -> str:
    return question[:1].upper() + question[1:]


def condense(history: History, question: str) -> str:
    """``question`` as a standalone question, using the conversation ``history`` (see the
    module docstring; ``as_turns`` lists the forms it may take)."""
    question = " ".join(str(question or "").split())
    turns = as_turns(history)
    if not question or not turns or not is_followup(question):
        return question
    own = _own_words(question)
    if not own or re.match(r"(?i)^(what|how) about\b", question):
        anchor = _anchor(turns)
        return question if anchor is None else _join(anchor, question)
    previous = turns[-MAX_TURNS:]
    last = " ".join(previous[-1][0].split())
    searched = condense(previous[:-1], last) if len(previous) > 1 else last
    return _capitalise(_resolve(_strip_lead(question), searched))
