"""Check any text against the corpus: each sentence supported or not, with its best source.

``QA.check(text)`` (and ``rag check FILE``, the UI's "Check a text" tab, the ``/check``
endpoint) splits the text into sentences; for each it retrieves the passages closest to it
(the same hybrid retrieval as questions), asks the support checker which of them supports
it, and returns the verdict, the score, the best passage as an exact quote with document
offsets, and a short reason. All (sentence, passage) pairs are scored in one batch.

>>> import tempfile, pathlib, rag
>>> d = pathlib.Path(tempfile.mkdtemp()); (d / "c").mkdir()
>>> _ = (d / "c" / "a.txt").write_text(
...     "Moscow keeps a naval base in Tartus on the coast of Syria. It opened in 1971.")
>>> _ = rag.build_index(d / "c", d / "i", embedding_model="hash")
>>> qa = rag.load(d / "i", embedding_model="hash")
>>> report = qa.check("Moscow has a naval base in Tartus. It opened in 1985.")
>>> [(s.text, s.supported) for s in report.sentences]
[('Moscow has a naval base in Tartus.', True), ('It opened in 1985.', False)]
>>> report.sentences[1].reason
'number 1985 not in passage'

It leaves out: resolving pronouns across the checked text's sentences ("It opened ..." is
judged on its own words), and claims that need two passages together.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import RagError
from .text import split_sentences
from .types import Citation, Passage
from .verify import Checker

__all__ = ["CheckReport", "CheckedSentence", "check_text", "MAX_CHECK_CHARS"]

MAX_CHECK_CHARS = 20_000  # longer texts are refused: check them in parts
MAX_CHECK_SENTENCES = 200
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)


@dataclass(frozen=True)
class CheckedSentence:
    """One sentence of the checked text (``text[start:end]`` of the input).

    ``citation`` is the passage that supports it best, as an exact quote of its document
    (``document_text(doc_id)[start:end] == quote``); for an unsupported sentence it is the
    closest passage, or ``None`` when nothing was retrieved.
    """

    text: str
    start: int
    end: int
    supported: bool
    score: float
    reason: str
    citation: Citation | None = None

    def to_dict(self) -> dict[str, Any]:
        c = self.citation
        return {
            "sentence": self.text, "start": self.start, "end": self.end,
            "supported": self.supported, "score": round(self.score, 4), "reason": self.reason,
            "citation": None if c is None else {
                "doc_id": c.doc_id, "title": c.title, "outlet": c.outlet, "quote": c.quote,
                "start": c.start, "end": c.end, "chunk_id": c.chunk_id,
            },
        }


@dataclass(frozen=True)
class CheckReport:
    """What ``QA.check`` returns."""

    text: str
    sentences: list[CheckedSentence] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def n_supported(self) -> int:
        return sum(s.supported for s in self.sentences)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "sentences": [s.to_dict() for s in self.sentences],
            "supported": self.n_supported,
            "unsupported": len(self.sentences) - self.n_supported,
        }


def _trim_quote(p: Passage, span: tuple[int, int]) -> tuple[int, int]:
    """Document offsets of ``span`` (offsets in ``p.text``), whitespace trimmed."""
    a, b = span
    if not 0 <= a < b <= len(p.text):
        a, b = 0, len(p.text)
    piece = p.text[a:b]
    a += len(piece) - len(piece.lstrip())
    b -= len(piece) - len(piece.rstrip())
    return p.start + a, p.start + b


def check_text(
    text: str,
    retrieve: Callable[[str], Sequence[Passage]],
    checker: Checker,
) -> CheckReport:
    """Check every sentence of ``text``; ``retrieve`` gives the candidate passages of one
    sentence. Raises ``RagError`` for empty or over-long text."""
    if not isinstance(text, str) or not text.strip():
        raise RagError("the text to check is empty; paste or pass some sentences")
    if len(text) > MAX_CHECK_CHARS:
        raise RagError(
            f"the text is {len(text):,} characters long; check at most {MAX_CHECK_CHARS:,} "
            "at a time (split it into parts)"
        )
    spans = [(s, e) for s, e in split_sentences(text) if _LETTER.search(text[s:e])]
    if len(spans) > MAX_CHECK_SENTENCES:
        raise RagError(
            f"the text has {len(spans)} sentences; check at most {MAX_CHECK_SENTENCES} at a time"
        )
    t0 = time.perf_counter()
    candidates = [list(retrieve(" ".join(text[s:e].split()))) for s, e in spans]
    t1 = time.perf_counter()
    flat = [(text[s:e], p.text) for (s, e), ps in zip(spans, candidates, strict=True) for p in ps]
    if flat:
        checker.score_many(flat)  # one batch of the model; the calls below hit its cache
    out = []
    for (s, e), passages in zip(spans, candidates, strict=True):
        sentence = text[s:e]
        if not passages:
            out.append(CheckedSentence(sentence, s, e, False, 0.0,
                                       "no passage of the corpus is close to it"))
            continue
        i, support = checker.best(sentence, [p.text for p in passages])
        p = passages[i]
        qs, qe = _trim_quote(p, support.span)
        quote = p.text[qs - p.start : qe - p.start]
        citation = Citation(0, p.doc_id, p.title, quote, qs, qe, p.chunk_id, p.outlet)
        if support.supported:
            reason = f"supported by {p.title or p.doc_id} (score {support.score:.2f})"
        else:
            reason = support.reasons[0] if support.reasons else "no passage supports it"
        out.append(CheckedSentence(sentence, s, e, support.supported, support.score, reason,
                                   citation))
    t2 = time.perf_counter()
    return CheckReport(text, out, {"retrieve": t1 - t0, "check": t2 - t1})
