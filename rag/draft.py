"""Draft: turn a language model's answer draft into verified, cited sentences.

A draft is free text such as ``"Putin will not abandon Assad [1]. Moscow froze the hotline.
[3]"``. This module

1. parses it into sentences (``rag.text.split_sentences``) and the passage numbers each one
   cites; markers may be written ``[1]``, ``[1][2]``, ``[1, 2]``, ``[1-3]``, ``[Passage 1]``,
   before the full stop (``"... Assad [1]."``) or after it (``"... Assad. [1]"``);
2. hands each sentence, with the passages it cites, to the answer builder every writer
   shares (``rag.answer.AnswerBuilder``), which checks it with the support checker: first
   against the passages it cites, and when none of them supports it, against all passages,
   so a wrong citation number is re-pointed to the passage that really states the sentence;
   sentences no passage supports are dropped and recorded as ``rag.types.Dropped``; kept
   ones are numbered in order of appearance, and citation ``n`` quotes the supporting span
   of the passage exactly, with document offsets (``passage.start + span``);
3. abstains when the draft starts with ``rag.prompts.LM_ABSTAIN_PHRASE`` or nothing survives.

``stream_answer`` does all of it on a stream of text chunks, yielding a new snapshot as soon
as a sentence is complete and verified: the user never sees an unverified sentence.

It leaves out: calling the model (``rag.generate``), retrieval (``rag.chain``), and any
rewriting of the model's sentences - a sentence is kept as written or dropped whole. One
citation (the best supporting passage) is kept per sentence, even when the model cited two.

>>> from rag.types import Passage
>>> p = Passage("c1", "a.md", "A", "Moscow keeps a naval base in Tartus. It is in Syria.", 1.0,
...             start=100, end=152, sentences=((100, 136), (137, 152)))
>>> parse_draft("Moscow has a base in Tartus. [2] The base is in Syria [1].")
[DraftSentence(text='Moscow has a base in Tartus.', cited=(2,)), \
DraftSentence(text='The base is in Syria.', cited=(1,))]
>>> ans = verify_draft("Where?", "Moscow keeps a naval base in Tartus [2].", [p])
>>> ans.text, ans.citations[0].quote, ans.citations[0].start
('Moscow keeps a naval base in Tartus. [1]', 'Moscow keeps a naval base in Tartus.', 100)
>>> verify_draft("Where?", "NOT IN SOURCES", [p]).abstained
True
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from . import prompts
from .answer import AnswerBuilder, Claim, Verified, verify_claim
from .text import split_sentences
from .types import Answer, Passage
from .verify import Checker

log = logging.getLogger(__name__)

__all__ = [
    "DraftSentence",
    "Verified",
    "parse_draft",
    "stream_answer",
    "verify_draft",
    "verify_sentence",
]

# One citation group: [1], [1, 2], [1-3], [1 and 2], [Passage 1], [source 2].
_MARKER = re.compile(
    r"\[\s*(?:(?:passages?|sources?|doc(?:ument)?s?)\s*)?"
    r"(\d{1,3}(?:\s*(?:,|;|-|–|and|&)\s*(?:(?:passages?|sources?)\s*)?\d{1,3})*)\s*\]",
    re.IGNORECASE,
)
_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL | re.IGNORECASE)
_PREFIX = re.compile(r"^\s*(?:\*\*)?answer(?:\*\*)?\s*:\s*", re.IGNORECASE)
_LETTER = re.compile(r"[A-Za-z0-9]")
_OPEN_MARKER = re.compile(r"\[[^\]]*$")  # a marker still being streamed


@dataclass(frozen=True)
class DraftSentence:
    """One sentence of a draft, markers removed, and the passage numbers it cites (1-based)."""

    text: str
    cited: tuple[int, ...] = ()


def _numbers(group: str) -> list[int]:
    out: list[int] = []
    for part in re.split(r"\s*(?:,|;|and|&)\s*", group):
        part = re.sub(r"(?i)passages?|sources?", "", part).strip()
        m = re.fullmatch(r"(\d+)\s*[-–]\s*(\d+)", part)
        if m:
            a, b = int(m.group(1)), int(m.group(2))
            if 0 < b - a <= 10:
                out.extend(range(a, b + 1))
                continue
            out.extend((a, b))
        elif part.isdigit():
            out.append(int(part))
    return out


def clean_draft(text: str) -> str:
    """Strip reasoning blocks (``<think>...</think>``), an ``Answer:`` prefix, markdown bold.

    >>> clean_draft("<think>hmm</think>Answer: **Yes.** [1]")
    'Yes. [1]'
    """
    text = _THINK.sub("", text)
    text = _PREFIX.sub("", text)
    return text.replace("**", "").strip()


def is_abstention(text: str) -> bool:
    """The draft starts with the abstain phrase (``NOT IN SOURCES``), whatever the case.

    >>> is_abstention("Not in sources."), is_abstention("Assad stays [1].")
    (True, False)
    """
    head = re.sub(r"[^A-Za-z ]", " ", clean_draft(text)[: len(prompts.LM_ABSTAIN_PHRASE) + 8])
    return " ".join(head.split()).upper().startswith(prompts.LM_ABSTAIN_PHRASE.upper())


def parse_draft(text: str) -> list[DraftSentence]:
    """Sentences of ``text`` with the passage numbers each cites, in order.

    A marker belongs to the sentence it follows: ``"A. [1] B [2]."`` gives A->1, B->2.
    Markers before the first sentence go to the first sentence.
    """
    return [sentence for sentence, _ in _parse(clean_draft(text))]


def _parse(text: str) -> list[tuple[DraftSentence, int]]:
    """``parse_draft`` on cleaned text; each sentence with its start offset in ``text``."""
    plain: list[str] = []
    segments: list[tuple[int, int, int]] = []  # (offset in joined, offset in text, shift)
    marks: list[tuple[int, list[int]]] = []  # (offset in joined, numbers)
    pos = 0
    length = 0
    for m in [*_MARKER.finditer(text), None]:
        raw = text[pos : m.start()] if m is not None else text[pos:]
        piece = _after_marker(raw, pos)
        shift = len(piece) - len(raw)  # 1 when a space was put in front
        if m is not None:
            piece = piece.rstrip()
        segments.append((length, pos, shift))
        plain.append(piece)
        length += len(piece)
        if m is not None:
            marks.append((length, _numbers(m.group(1))))
            pos = m.end()
    joined = "".join(plain)
    spans = [(s, e) for s, e in split_sentences(joined) if _LETTER.search(joined[s:e])]
    if not spans:
        return []
    cited: list[list[int]] = [[] for _ in spans]
    for at, nums in marks:
        # The last sentence that starts before the marker (or the first one).
        idx = 0
        for i, (s, _e) in enumerate(spans):
            if s < at or (s == at and i == 0):
                idx = i
        for n in nums:
            if n not in cited[idx]:
                cited[idx].append(n)
    out = []
    for (s, e), nums in zip(spans, cited, strict=True):
        sentence = _tidy(joined[s:e])
        if sentence:
            j0, r0, shift = max(seg for seg in segments if seg[0] <= s)
            out.append((DraftSentence(sentence, tuple(nums)), r0 + max(0, s - j0 - shift)))
    return out


def _after_marker(piece: str, pos: int) -> str:
    """Text right after a marker gets a space: "A.[1]B." -> "A. B.", "A [1].B" -> "A. B"."""
    if not pos or not piece or piece[0].isspace():
        return piece
    if piece[0] not in ".,;:!?)":
        return " " + piece
    m = re.match(r"[.!?]+(?=[A-Z])", piece)
    return piece[: m.end()] + " " + piece[m.end() :] if m else piece


def _tidy(sentence: str) -> str:
    sentence = " ".join(sentence.split())
    sentence = re.sub(r"\s+([.,;:!?])", r"\1", sentence)  # "Assad ." left by a removed marker
    sentence = sentence.lstrip("-*•· ").strip()
    return sentence if _LETTER.search(sentence) else ""


def verify_sentence(
    sentence: DraftSentence, passages: Sequence[Passage], scorer: Checker
) -> Verified:
    """Check ``sentence`` against the passages it cites, then against all of them; the reason
    of a dropped sentence names the passages that were tried (``rag.answer.verify_claim``)."""
    return verify_claim(_claim(sentence), passages, scorer)


def _claim(sentence: DraftSentence) -> Claim:
    return Claim(sentence.text, sentence.cited)


# A sentence end followed by the start of the next sentence: only then can one be complete.
_NEXT_BEGUN = re.compile(r"[.!?\n][\"'”’)\]]*\s*(?:\[[^\]]*\]\s*)*[^\w\[]*[A-Za-z0-9]")


def _complete(tail: str) -> list[tuple[DraftSentence, int]]:
    """The complete sentences at the start of a partial (cleaned) draft: all but the last,
    once the last has begun (so a trailing ``". [1]"`` marker has reached its sentence);
    then the start of the unfinished one."""
    if not _NEXT_BEGUN.search(tail):
        return []
    parsed = _parse(_OPEN_MARKER.sub("", tail))
    return parsed if len(parsed) > 1 else []


def stream_answer(
    question: str,
    chunks: Iterable[str],
    passages: Sequence[Passage],
    scorer: Checker,
    timings: dict[str, float] | None = None,
    max_sentences: int | None = None,
) -> Iterator[Answer]:
    """Verify a streamed draft sentence by sentence; yield an ``Answer`` per kept sentence,
    then the final one (with ``timings``: ``generate`` and ``verify`` added)."""
    b = AnswerBuilder(question, list(passages), scorer, dict(timings or {}))
    buffer = ""
    t0 = time.perf_counter()
    abstain = False

    def take(sentence: DraftSentence) -> bool:
        if is_abstention(sentence.text):
            b.drop(sentence.text, "the abstain phrase after an answer")
            return False
        return b.add(_claim(sentence))

    def full() -> bool:
        return bool(max_sentences) and b.n_sentences >= (max_sentences or 0)

    base = 0  # offset in the cleaned draft where the unfinished sentence starts
    for chunk in chunks:
        buffer += chunk
        if not b.verified and not b.dropped and is_abstention(buffer):
            abstain = True
            break
        low = buffer.lower()
        if "<think>" in low and "</think>" not in low:
            continue
        parsed = _complete(clean_draft(buffer)[base:])
        if parsed:
            for sentence, _ in parsed[:-1]:
                if full():
                    break
                if take(sentence):
                    yield b.snapshot()
            base += parsed[-1][1]
        if full():
            break
    abstain = abstain or is_abstention(buffer)
    if not abstain and not full():
        for sentence, _ in _parse(clean_draft(buffer)[base:]):
            if full():
                break
            if take(sentence):
                yield b.snapshot()
    elif buffer.strip():
        log.info("the model abstained on %r", question)
    b.timings["generate"] = time.perf_counter() - t0 - b.verify_time
    yield b.final(abstain)


def verify_draft(
    question: str, draft: str, passages: Sequence[Passage], scorer: Checker | None = None
) -> Answer:
    """The final ``Answer`` for a complete ``draft`` (``scorer`` defaults to a new
    ``rag.verify.SupportScorer``)."""
    if scorer is None:
        from .verify import SupportScorer

        scorer = SupportScorer()
    final: Answer | None = None
    for final in stream_answer(question, [draft], passages, scorer):  # noqa: B007
        pass
    assert final is not None
    return final
