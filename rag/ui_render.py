"""HTML for the web UI (``rag.ui``): chat turns, per-answer source cards, the article view,
library messages and the text-check report.

Pure functions over rag's data types (``Answer``, ``Citation``, ``Passage``, ``CheckReport``):
no Gradio, no I/O, every text escaped. The ids they write are what the browser script
(``rag.ui_assets.CHAT_JS``) works with:

- an answer of chat turn ``t`` cites ``[n]`` as ``<a class="cite" href="#src-t-n">`` carrying
  a hidden tooltip (title, outlet, and the text around the quote, not the quote itself);
- the answer's own sources follow it: one card per cited passage (overlapping passages of one
  article merged), every quote of that passage highlighted with its number
  (``<span class="qn" id="src-t-n">``), and a button that opens the whole article
  (``data-doc``, ``data-spans``) rendered by ``render_article`` with the quotes marked.

>>> group_citations([], [])
[]
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import prompts
from .check import CheckedSentence, CheckReport
from .types import Answer, Citation, Passage

if TYPE_CHECKING:  # annotations only: rendering needs no store (nor numpy)
    from .store import DocInfo

CONTEXT_CHARS = 220  # passage text shown on each side of a highlighted quote in a card
TIP_CHARS = 170  # text shown on each side of the quote in a marker's tooltip
TRIM_CHARS = 420  # length of a closest-passage card (abstentions)
MAX_SPANS = 200  # spans marked in one article view
PREMISE_HEAD = "The articles don't support this question's premise"
PREMISE_SUB = "Here is what they say instead:"
CLOSEST_NOTE = "The closest passages (none of them answers it)"


def _e(text: Any) -> str:
    return html.escape(str(text or ""), quote=True)


def _source_line(title: str, outlet: str | None, doc_id: str) -> str:
    bits = f'<span class="src-title">{_e(title or doc_id)}</span>'
    if outlet:
        bits += f' <span class="src-outlet">{_e(outlet)}</span>'
    return bits + f' <span class="src-doc">{_e(doc_id)}</span>'


def _trim(text: str, n: int = TRIM_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: text.rfind(" ", 0, n)] + "…"


def _after_space(text: str, a: int, limit: int) -> int:
    """``a`` moved forward to just after a space (a word start), never past ``limit``."""
    if a <= 0:
        return 0
    i = text.find(" ", a, limit)
    return i + 1 if i >= 0 else a


def _before_space(text: str, b: int, floor: int) -> int:
    """``b`` moved back to a space (a word end), never before ``floor``."""
    if b >= len(text):
        return len(text)
    i = text.rfind(" ", floor, b)
    return i if i > floor else b


# --------------------------------------------------------------------------------------
# Grouping the citations of an answer into cards
# --------------------------------------------------------------------------------------
@dataclass
class SourceGroup:
    """One source card: the citations whose quotes lie in one passage.

    ``text`` is that passage (passages of one article that overlap, as neighbouring chunks
    do, are merged into one) and ``start`` its offset in the document, so a citation's
    quote is ``text[c.start - start:c.end - start]``.
    """

    doc_id: str
    title: str
    outlet: str | None
    start: int
    text: str
    citations: list[Citation] = field(default_factory=list)

    @property
    def end(self) -> int:
        return self.start + len(self.text)

    def span(self, c: Citation) -> tuple[int, int] | None:
        """Where the quote of ``c`` is in ``text``, or None when it is not there."""
        i, j = c.start - self.start, c.end - self.start
        if 0 <= i <= j <= len(self.text) and self.text[i:j] == c.quote:
            return i, j
        k = self.text.find(c.quote) if c.quote else -1
        return (k, k + len(c.quote)) if k >= 0 else None


def _windows(citations: Sequence[Citation], passages: Sequence[Passage]) -> list[SourceGroup]:
    """The cited passages as empty groups, those of one article that overlap merged."""
    by_chunk = {p.chunk_id: p for p in passages}
    seen: dict[str, SourceGroup] = {}
    for c in citations:
        if c.chunk_id in seen:
            continue
        p = by_chunk.get(c.chunk_id)
        if p is not None and p.doc_id == c.doc_id:
            seen[c.chunk_id] = SourceGroup(c.doc_id, p.title or c.title, p.outlet or c.outlet,
                                           p.start, p.text)
        else:  # the passage is unknown: the quote alone
            seen[c.chunk_id] = SourceGroup(c.doc_id, c.title, c.outlet, c.start, c.quote)
    merged: list[SourceGroup] = []
    for g in sorted(seen.values(), key=lambda g: (g.doc_id, g.start)):
        last = merged[-1] if merged else None
        if last is not None and last.doc_id == g.doc_id and g.start <= last.end:
            overlap = last.end - g.start
            if last.text[len(last.text) - overlap:] == g.text[:overlap]:
                last.text += g.text[overlap:]
                continue
        merged.append(g)
    return merged


def group_citations(
    citations: Sequence[Citation], passages: Sequence[Passage]
) -> list[SourceGroup]:
    """The citations grouped by the passage their quote comes from, one group per card.

    Passages of one article that overlap are one group; groups are ordered by their lowest
    citation number and each group's citations by their place in the passage.
    """
    windows = _windows(citations, passages)
    for c in citations:
        home = next((g for g in windows if g.doc_id == c.doc_id
                     and g.start <= c.start and c.end <= g.end and g.span(c)), None)
        home = home or next((g for g in windows if g.doc_id == c.doc_id and g.span(c)), None)
        if home is None:
            home = SourceGroup(c.doc_id, c.title, c.outlet, c.start, c.quote)
            windows.append(home)
        home.citations.append(c)
    groups = [g for g in windows if g.citations]
    for g in groups:
        g.citations.sort(key=lambda c: (g.span(c) or (0, 0), c.n))
    return sorted(groups, key=lambda g: min(c.n for c in g.citations))


def _marked_spans(g: SourceGroup, turn: int) -> list[tuple[int, int, str]]:
    """(start, end, number badges) in ``g.text`` per highlighted stretch; overlapping quotes
    share one highlight."""
    out: list[tuple[int, int, str]] = []
    for c in g.citations:
        s = g.span(c)
        if s is None:
            continue
        badge = f'<span class="qn" id="src-{turn}-{c.n}">{c.n}</span>'
        if out and s[0] < out[-1][1]:
            a, b, badges = out[-1]
            out[-1] = (a, max(b, s[1]), badges + badge)
        else:
            out.append((s[0], s[1], badge))
    return out


def _excerpt(text: str, spans: Sequence[tuple[int, int, str]]) -> str:
    """``text`` with each span highlighted and ``CONTEXT_CHARS`` of context around it; the
    parts between far-apart spans are left out (``…``)."""
    if not spans:
        return _e(_trim(text))
    out: list[str] = []
    pos = _after_space(text, spans[0][0] - CONTEXT_CHARS, spans[0][0])
    if pos > 0:
        out.append("…")
    for k, (s, e, badges) in enumerate(spans):
        if k and s - pos > 2 * CONTEXT_CHARS:
            cut = _before_space(text, pos + CONTEXT_CHARS, pos)
            out.append(_e(text[pos:cut]) + ' <span class="gap">…</span> ')
            pos = _after_space(text, s - CONTEXT_CHARS, s)
        out.append(_e(text[pos:s]))
        out.append(f'<mark class="q">{badges}{_e(text[s:e])}</mark>')
        pos = e
    end = _before_space(text, pos + CONTEXT_CHARS, pos)
    out.append(_e(text[pos:end]) + ("…" if end < len(text) else ""))
    return "".join(out)


def _spans_attr(citations: Iterable[Citation]) -> str:
    return _e(json.dumps([[c.n, c.start, c.end] for c in citations]))


def _open_button(doc_id: str, spans: str, focus: int, label: str = "Read in the article") -> str:
    return (f'<button type="button" class="open-doc" data-doc="{_e(doc_id)}" '
            f'data-spans="{spans}" data-focus="{focus}">{_e(label)} ↗</button>')


def render_source_cards(answer: Answer, turn: int) -> str:
    """The sources of one answer: a card per cited passage with every quote highlighted."""
    groups = group_citations(answer.citations, answer.passages)
    if not groups:
        return ""
    cards = []
    for i, g in enumerate(groups):
        nums = "".join(f'<span class="num">{c.n}</span>'
                       for c in sorted(g.citations, key=lambda c: c.n))
        same_doc = [c for c in answer.citations if c.doc_id == g.doc_id]
        first = min(g.citations, key=lambda c: c.n).n
        cards.append(
            f'<div class="card" id="card-{turn}-{i}"><div class="card-head">{nums}'
            f"{_source_line(g.title, g.outlet, g.doc_id)}</div>"
            f'<div class="passage">{_excerpt(g.text, _marked_spans(g, turn))}</div>'
            f'<div class="card-foot">{_open_button(g.doc_id, _spans_attr(same_doc), first)}'
            "</div></div>"
        )
    n = len(groups)
    return (f'<div class="sources"><div class="sources-head">Sources · {n} passage'
            f'{"s" * (n != 1)}</div><div class="cards">{"".join(cards)}</div></div>')


def _closest_cards(passages: Sequence[Passage]) -> str:
    cards = "".join(
        f'<div class="card closest"><div class="card-head"><span class="num">{k}</span>'
        f"{_source_line(p.title, p.outlet, p.doc_id)}</div>"
        f'<div class="passage">{_e(_trim(p.text))}</div><div class="card-foot">'
        f'{_open_button(p.doc_id, _e(json.dumps([[0, p.start, p.end]])), 0)}</div></div>'
        for k, p in enumerate(passages, 1)
    )
    return (f'<details class="sources closest"><summary>{_e(CLOSEST_NOTE)} · '
            f'{len(passages)}</summary><div class="cards">{cards}</div></details>')


# --------------------------------------------------------------------------------------
# Answers
# --------------------------------------------------------------------------------------
def citation_context(c: Citation, g: SourceGroup | None) -> tuple[str, str]:
    """The text just before and just after the quote of ``c`` in its passage."""
    s = g.span(c) if g is not None else None
    if g is None or s is None:
        return "", ""
    text = g.text
    a = _after_space(text, s[0] - TIP_CHARS, s[0])
    b = _before_space(text, s[1] + TIP_CHARS, s[1])
    before = ("…" if a > 0 else "") + " ".join(text[a:s[0]].split())
    after = " ".join(text[s[1]:b].split()) + ("…" if b < len(text) else "")
    return before, after


def render_tooltip(c: Citation, g: SourceGroup | None) -> str:
    """A marker's tooltip: title, outlet and the text around the quote (the quote itself is
    the sentence being read, so it is shown as a placeholder)."""
    meta = " · ".join(x for x in (c.outlet, c.doc_id) if x)
    before, after = citation_context(c, g)
    if before or after:
        ctx = (f'<span class="tip-ctx">{_e(before)} <b class="tip-here">[{c.n}: this '
               f"sentence]</b> {_e(after)}</span>")
    else:
        ctx = '<span class="tip-ctx">The passage holds only this sentence.</span>'
    return (f'<span class="tip-title">{_e(c.title or c.doc_id)}</span>'
            f'<span class="tip-meta">{_e(meta)}</span>{ctx}')


def render_answer_text(text: str, answer: Answer, turn: int) -> str:
    """``text`` with each ``[n]`` as a link to its quote in this answer's sources, with a
    tooltip (``render_tooltip``)."""
    groups = group_citations(answer.citations, answer.passages)
    home = {c.n: g for g in groups for c in g.citations}
    by_n = {c.n: c for c in answer.citations}

    def marker(m: re.Match[str]) -> str:
        c = by_n.get(int(m.group(1)))
        if c is None:
            return m.group(0)
        return (f'<a class="cite" href="#src-{turn}-{c.n}" data-turn="{turn}" data-n="{c.n}" '
                f'aria-label="Source {c.n}: {_e(c.title or c.doc_id)}">[{c.n}]'
                f'<span class="tip" hidden>{render_tooltip(c, home.get(c.n))}</span></a>')

    return re.sub(r"\[(\d+)\]", marker, _e(text))


def is_premise_correction(answer: Answer) -> bool:
    """An answer that corrects the question's premise: abstained, yet quoting the passages."""
    return answer.abstained and bool(answer.citations)


def _strip_prefix(text: str, prefix: str) -> str:
    return text[len(prefix):].lstrip() if text.startswith(prefix) else text


def render_answer(answer: Answer, turn: int) -> str:
    """The body of an answer message: the answer, a premise correction or an abstention,
    followed by its own sources."""
    if is_premise_correction(answer):
        body = _strip_prefix(answer.text, prompts.FALSE_PREMISE)
        return (f'<div class="note premise" role="note"><b>{_e(PREMISE_HEAD)}</b>'
                f"<span>{_e(PREMISE_SUB)}</span></div>"
                f'<p class="answer">{render_answer_text(body, answer, turn)}</p>'
                + render_source_cards(answer, turn))
    if answer.abstained:
        head = answer.text.replace(prompts.ABSTAIN_CLOSEST.strip(), "").strip()
        return (f'<div class="note abstain"><b>{_e(head or prompts.ABSTAIN)}</b></div>'
                + (_closest_cards(answer.passages) if answer.passages else
                   '<p class="muted">No passage of the indexed articles matched it.</p>'))
    return (f'<p class="answer">{render_answer_text(answer.text, answer, turn)}</p>'
            + render_source_cards(answer, turn))


def answer_kind(answer: Answer) -> str:
    """``answer``, ``premise`` or ``abstained``: the class of the message."""
    if is_premise_correction(answer):
        return "premise"
    return "abstained" if answer.abstained else "answer"


def render_error(message: str) -> str:
    return f'<div class="note error" role="alert">{_e(message)}</div>'


# --------------------------------------------------------------------------------------
# Chat
# --------------------------------------------------------------------------------------
def render_turn(turn: dict[str, Any], k: int) -> str:
    """One question and its answer; ``turn`` holds ``question``, ``standalone``, ``html``
    (the answer body), ``kind``, ``meta`` (timings, when final) and ``done``."""
    q = f'<div class="msg user"><div class="bubble">{_e(turn["question"])}</div></div>'
    sq = turn.get("standalone")
    if sq and sq != turn["question"]:
        q += f'<div class="rewritten">Searched as: <i>{_e(sq)}</i></div>'
    body = turn.get("html") or '<span class="pending">Searching the articles…</span>'
    if turn.get("meta"):
        meta = f'<div class="meta">{_e(turn["meta"])}</div>'
    elif turn.get("html") and not turn.get("done"):
        meta = '<div class="meta pending">Checking the next sentence…</div>'
    else:
        meta = ""
    return (f'<div class="turn" id="turn-{k}" data-turn="{k}">{q}'
            f'<div class="msg bot {_e(turn.get("kind") or "answer")}">'
            f'<div class="bubble">{body}{meta}</div></div></div>')


def render_chat(turns: Sequence[dict[str, Any]]) -> str:
    if not turns:
        return ('<div class="chat empty"><p>Ask a question about the indexed articles. Every '
                "sentence of the answer is quoted from an article and cites it as <b>[n]</b>; "
                "its sources follow the answer.</p></div>")
    return ('<div class="chat" aria-live="polite">'
            + "".join(render_turn(t, k) for k, t in enumerate(turns)) + "</div>")


# --------------------------------------------------------------------------------------
# The article view
# --------------------------------------------------------------------------------------
def parse_spans(raw: Any, length: int) -> list[tuple[int, int, int]]:
    """(n, start, end) spans from the browser, kept when they are inside the text, sorted,
    without overlaps."""
    spans: list[tuple[int, int, int]] = []
    for item in raw[:MAX_SPANS] if isinstance(raw, list) else []:
        try:
            n, s, e = (int(x) for x in item)
        except (TypeError, ValueError):
            continue
        if 0 <= s < e <= length:
            spans.append((n, s, e))
    out: list[tuple[int, int, int]] = []
    for n, s, e in sorted(spans, key=lambda t: (t[1], t[2])):
        if not out or s >= out[-1][2]:
            out.append((n, s, e))
    return out


def render_article(
    doc_id: str, text: str, title: str = "", outlet: str | None = None,
    date: str | None = None, spans: Sequence[tuple[int, int, int]] = (), focus: int = 0,
) -> str:
    """A whole article with the cited spans marked (``n`` 0: a passage, not a quote); the
    span numbered ``focus`` (else the first) gets the class ``focus``."""
    target = next((n for n, _, _ in spans if n == focus), spans[0][0] if spans else None)
    parts, pos = [], 0
    for n, s, e in spans:
        cls = "q" if n else "p"
        cls += " focus" if n == target else ""
        badge = f'<span class="qn">{n}</span>' if n else ""
        parts.append(_e(text[pos:s]))
        parts.append(f'<mark class="{cls}" data-n="{n}">{badge}{_e(text[s:e])}</mark>')
        pos = e
    parts.append(_e(text[pos:]))
    meta = " · ".join(_e(x) for x in (outlet, date, doc_id) if x)
    quotes = sum(1 for n, _, _ in spans if n)
    hint = (f"{quotes} cited quote{'s' * (quotes != 1)} highlighted" if quotes
            else "The passage found is highlighted" if spans else "")
    return (f'<div class="doc-head"><h2 id="doc-title">{_e(title or doc_id)}</h2>'
            f'<div class="doc-meta">{meta}</div>'
            + (f'<div class="doc-hint">{hint}</div>' if hint else "") + "</div>"
            f'<div class="doc-text">{"".join(parts)}</div>')


# --------------------------------------------------------------------------------------
# Library messages
# --------------------------------------------------------------------------------------
def render_documents(docs: Sequence[DocInfo]) -> str:
    """The library as a table (on a phone, one block per document)."""
    if not docs:
        return '<div class="docs empty">No documents yet: add some below.</div>'
    rows = "".join(
        f'<tr><td class="d-title">{_e(d.title or d.doc_id)}</td>'
        f'<td class="d-outlet">{_e(d.outlet or "")}</td><td class="d-date">{_e(d.date or "")}'
        f'</td><td class="d-chunks">{d.n_chunks}<span class="d-unit"> chunk'
        f'{"s" * (d.n_chunks != 1)}</span></td><td class="d-file">{_e(d.doc_id)}</td></tr>'
        for d in docs
    )
    return ('<div class="docs"><table class="docs-table"><thead><tr><th>Title</th><th>Outlet'
            '</th><th>Date</th><th class="d-chunks">Chunks</th><th>File</th></tr></thead>'
            f"<tbody>{rows}</tbody></table></div>")


def render_notice(text: str, kind: str = "info") -> str:
    """A one-line library message (``kind``: info, ok, error)."""
    role = "alert" if kind == "error" else "status"
    return f'<div class="lib-msg {kind}" role="{role}">{_e(text)}</div>'


def render_upload_result(
    added: Sequence[str], rejected: Sequence[tuple[str, str]], summary: str = ""
) -> str:
    """What an upload did, file by file: added, or rejected and why."""
    kind = "error" if not added else "mixed" if rejected else "ok"
    lines = [f'<li class="ok"><span class="mark">✓</span><b>{_e(n)}</b> added</li>'
             for n in added]
    lines += [f'<li class="bad"><span class="mark">✗</span><b>{_e(n)}</b> rejected: {_e(r)}</li>'
              for n, r in rejected]
    head = (f"Added {len(added)} file{'s' * (len(added) != 1)}"
            + (f", rejected {len(rejected)}" if rejected else "") if added
            else "Nothing was added; the library is unchanged.")
    role = "alert" if rejected else "status"
    tail = f'<div class="lib-sum">Index: {_e(summary)}</div>' if summary else ""
    return (f'<div class="lib-msg {kind}" role="{role}"><div class="lib-head">{_e(head)}</div>'
            f'<ul>{"".join(lines)}</ul>{tail}</div>')


# --------------------------------------------------------------------------------------
# Check a text
# --------------------------------------------------------------------------------------
def _check_card(k: int, s: CheckedSentence) -> str:
    cls = "ok" if s.supported else "bad"
    verdict = "Supported" if s.supported else "Not supported"
    head = (f'<div class="card-head"><a class="num" href="#chk-s-{k}" title="Go to the sentence">'
            f'{k}</a><span class="verdict {cls}">{verdict}</span>'
            f'<span class="chk-score">score {s.score:.2f}</span></div>')
    c = s.citation
    if s.supported and c is not None:
        body = (f'<div class="card-head">{_source_line(c.title, c.outlet, c.doc_id)}</div>'
                f'<div class="passage"><mark>{_e(c.quote)}</mark></div>')
    else:
        body = f'<div class="chk-reason">{_e(s.reason)}</div>'
        if c is not None:
            body += (f'<div class="chk-label">Closest passage</div>'
                     f'<div class="card-head">{_source_line(c.title, c.outlet, c.doc_id)}</div>'
                     f'<div class="passage">{_e(_trim(c.quote, 2 * CONTEXT_CHARS))}</div>')
    return f'<div class="card chk-card {cls}" id="chk-{k}" data-n="{k}">{head}{body}</div>'


def render_check(report: CheckReport | None = None, error: str | None = None) -> str:
    """The checked text with each sentence green or red and numbered, and a card for each.

    Hovering a sentence or a card highlights both (``CHECK_JS``); the number on a sentence
    links to its card and the number on a card back to its sentence.
    """
    if error is not None:
        return f'<div class="check"><div class="chk-error" role="alert">{_e(error)}</div></div>'
    if report is None:
        return ('<div class="check empty">Paste a text and press <b>Check</b>: each sentence '
                "turns <span class=\"chk-s ok\">green</span> when an indexed article supports "
                "it and <span class=\"chk-s bad\">red</span> when none does, with its source "
                "beside it.</div>")
    if not report.sentences:
        return ('<div class="check"><div class="chk-error" role="alert">No sentences to check: '
                "the text has no words.</div></div>")
    text, parts, pos = report.text, [], 0
    for k, s in enumerate(report.sentences, 1):
        if s.start < pos:  # overlapping spans cannot be drawn; never produced by check_text
            continue
        cls = "ok" if s.supported else "bad"
        c = s.citation
        if s.supported and c is not None:
            tip = f"Supported by {c.title or c.doc_id}" + (f" ({c.outlet})" if c.outlet else "")
        else:
            tip = f"Not supported: {s.reason}"
        parts.append(_e(text[pos:s.start]))
        parts.append(f'<a class="chk-s {cls}" id="chk-s-{k}" href="#chk-{k}" data-n="{k}" '
                     f'title="{_e(tip)}">{_e(text[s.start:s.end])}'
                     f'<sup class="chk-n">[{k}]</sup></a>')
        pos = s.end
    parts.append(_e(text[pos:]))
    n, ok = len(report.sentences), report.n_supported
    took = sum(report.timings.values())
    summary = (f'<div class="chk-summary"><span><b>{ok} of {n}</b> sentence{"s" * (n != 1)} '
               f'supported</span><span class="chk-legend"><span class="chk-s ok">supported</span>'
               f'<span class="chk-s bad">not supported</span>'
               + (f" · checked in {took:.2f} s" if took else "") + "</span></div>")
    cards = "".join(_check_card(k, s) for k, s in enumerate(report.sentences, 1))
    return (f'<div class="check">{summary}<div class="chk-grid">'
            f'<div class="chk-text">{"".join(parts)}</div>'
            f'<div class="chk-cards">{cards}</div></div></div>')
