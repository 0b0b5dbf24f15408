"""The Gradio web UI: chat with cited sources, a document library, settings and a JSON API.

``main(argv)`` (used by ``python app.py`` and ``rag serve``) reads the settings, builds the
index from the corpus when none exists (tqdm progress in the terminal), loads the model once,
and serves on 127.0.0.1:7860 by default (``--host/--port`` or ``GRADIO_SERVER_NAME`` /
``GRADIO_SERVER_PORT``), with analytics off and no outside requests (system fonts only).

- Chat: the answer streams in sentence by sentence; every ``[n]`` is a link to its source card
  and shows the quote on hover. A card gives the title, the outlet and the cited quote
  highlighted (``<mark>``) inside its passage. Abstentions say so and list the closest
  passages. The conversation goes with every question (``QA.stream(history=...)``), so a
  follow-up is rewritten into a standalone question (``rag.followup``), shown above the
  answer.
- Library: the indexed documents; upload (.txt/.md/.html/.pdf, 10 MB at most, validated with
  ``rag.ingest.load_document`` before it enters the corpus), delete, re-index with progress;
  the service behind it is ``rag.library.Library``.
- Check a text: paste any text; each sentence is shown green (an article supports it) or red
  (none does) with a numbered marker, and beside it a card per sentence with the supporting
  quote, or the closest passage and why it does not support it (``QA.check``).
- Settings: passages per answer (``top_k``) and the answer generator (extractive by default;
  a language model as configured by the settings object, every sentence verified).
- API: ``/ask`` (question and an optional history -> ``Answer.to_dict()`` JSON),
  ``/ask_stream`` (the same, as growing snapshots), ``/check`` (text ->
  ``CheckReport.to_dict()`` JSON), ``/documents``, ``/upload``, ``/delete``, ``/reindex``.

It does not answer questions itself (``rag.chain``), manage the corpus and index
(``rag.library``) or keep users' conversations beyond their browser session.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the embedding model ships with the package

import gradio as gr  # noqa: E402 - the environment above must be set first

from .check import MAX_CHECK_CHARS, CheckedSentence, CheckReport  # noqa: E402
from .errors import RagError  # noqa: E402
from .library import (  # noqa: E402
    MAX_UPLOAD_BYTES,
    UPLOAD_TYPES,
    WARM_UP,
    Backend,
    Library,
    sanitize_filename,
)
from .progress import tqdm_progress  # noqa: E402
from .settings import GENERATORS, Settings  # noqa: E402
from .types import Answer, Citation, Passage  # noqa: E402

EXAMPLES = [
    WARM_UP,
    "What naval assets does Russia have in Syria?",
    "Who does Moscow see as the loser if Assad falls?",
]
DOC_HEADERS = ["Document", "Title", "Outlet", "Date", "Chunks"]
ABSTAIN_NOTE = "The indexed articles don't answer this."
CONTEXT_CHARS = 320  # passage text shown on each side of a highlighted quote


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------
def _e(text: Any) -> str:
    return html.escape(str(text or ""), quote=True)


def _source_line(title: str, outlet: str | None, doc_id: str) -> str:
    bits = f'<span class="src-title">{_e(title)}</span>'
    if outlet:
        bits += f' <span class="src-outlet">{_e(outlet)}</span>'
    return bits + f' <span class="src-doc">{_e(doc_id)}</span>'


def render_answer_text(answer: Answer, turn: int) -> str:
    """The answer with each ``[n]`` as a link to its card, showing the quote on hover."""
    by_n = {c.n: c for c in answer.citations}

    def marker(m: re.Match[str]) -> str:
        c = by_n.get(int(m.group(1)))
        if c is None:
            return m.group(0)
        tip = f"{_e(c.title)}{' · ' + _e(c.outlet) if c.outlet else ''}<br>“{_e(c.quote)}”"
        return (f'<a class="cite" href="#src-{turn}-{c.n}" data-n="{c.n}">[{c.n}]'
                f'<span class="tip" role="tooltip">{tip}</span></a>')

    return re.sub(r"\[(\d+)\]", marker, _e(answer.text))


def _highlight(c: Citation, passages: Sequence[Passage]) -> str:
    """The cited quote marked inside its passage, trimmed to some context on each side."""
    p = next((p for p in passages if p.chunk_id == c.chunk_id), None)
    if p is None:
        return f"<mark>{_e(c.quote)}</mark>"
    text = p.text
    i, j = c.start - p.start, c.end - p.start
    if not (0 <= i <= j <= len(text)) or text[i:j] != c.quote:
        i = text.find(c.quote)
        if i < 0:
            return f"<mark>{_e(c.quote)}</mark>"
        j = i + len(c.quote)
    a, b = max(0, i - CONTEXT_CHARS), min(len(text), j + CONTEXT_CHARS)
    if a > 0:
        a = text.find(" ", a) + 1 or a
    if b < len(text):
        b = text.rfind(" ", j, b) if text.rfind(" ", j, b) > j else b
    before = ("…" if a > 0 else "") + _e(text[a:i])
    after = _e(text[j:b]) + ("…" if b < len(text) else "")
    return f"{before}<mark>{_e(text[i:j])}</mark>{after}"


def render_sources(answer: Answer | None, turn: int) -> str:
    if answer is None:
        return ('<div class="sources empty">Sources appear here: each <b>[n]</b> of the answer '
                "with the cited words highlighted in their article.</div>")
    if answer.abstained or not answer.citations:
        if not answer.passages:
            return '<div class="sources empty">No passages matched.</div>'
        cards = "".join(
            f'<div class="card closest"><div class="card-head"><span class="num">{k}</span>'
            f"{_source_line(p.title, p.outlet, p.doc_id)}</div>"
            f'<div class="passage">{_e(_trim(p.text))}</div></div>'
            for k, p in enumerate(answer.passages, 1)
        )
        return f'<div class="sources"><h3>Closest passages</h3>{cards}</div>'
    cards = "".join(
        f'<div class="card" id="src-{turn}-{c.n}"><div class="card-head">'
        f'<span class="num">{c.n}</span>{_source_line(c.title, c.outlet, c.doc_id)}</div>'
        f'<div class="passage">{_highlight(c, answer.passages)}</div></div>'
        for c in answer.citations
    )
    return f'<div class="sources"><h3>Sources</h3>{cards}</div>'


def _trim(text: str, n: int = 2 * CONTEXT_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: text.rfind(" ", 0, n)] + "…"


def render_turn(turn: dict[str, Any], k: int) -> str:
    q = f'<div class="msg user"><div class="bubble">{_e(turn["question"])}</div></div>'
    sq = turn.get("standalone")
    if sq and sq != turn["question"]:
        q += f'<div class="rewritten">Searched as: <i>{_e(sq)}</i></div>'
    body = turn.get("html") or '<span class="pending">Searching the articles…</span>'
    cls = "msg bot abstained" if turn.get("abstained") else "msg bot"
    meta = f'<div class="meta">{_e(turn["meta"])}</div>' if turn.get("meta") else ""
    return f'{q}<div class="{cls}" data-turn="{k}"><div class="bubble">{body}{meta}</div></div>'


def render_chat(turns: Sequence[dict[str, Any]]) -> str:
    if not turns:
        return ('<div class="chat empty"><p>Ask a question about the indexed articles. Every '
                "sentence of the answer is quoted from an article and cites it as <b>[n]</b>."
                "</p></div>")
    return '<div class="chat">' + "".join(render_turn(t, k) for k, t in enumerate(turns)) + "</div>"


def _answer_html(answer: Answer, turn: int) -> str:
    if answer.abstained:
        return (f'<div class="abstain"><b>{_e(ABSTAIN_NOTE)}</b></div>'
                f"<p>{_e(answer.text)}</p>")
    return f'<p class="answer">{render_answer_text(answer, turn)}</p>'


CHECK_EXAMPLES = [
    "It would deprive Moscow of its only ally in the Middle East that hosts Russian air force "
    "and naval assets. Putin has made clear he will not abandon Assad. The Eiffel Tower was "
    "moved to Berlin in 2015.",
]


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
                     f'<div class="passage">{_e(_trim(c.quote))}</div>')
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


# Hovering a sentence highlights its card and the other way round (event delegation on the
# component, so it keeps working when the result is replaced).
CHECK_JS = """
const link = (ev, on) => {
  const t = ev.target.closest ? ev.target.closest('[data-n]') : null;
  if (!t || !element.contains(t)) return;
  element.querySelectorAll('[data-n="' + t.dataset.n + '"]')
    .forEach((x) => x.classList.toggle('linked', on));
};
element.addEventListener('mouseover', (ev) => link(ev, true));
element.addEventListener('mouseout', (ev) => link(ev, false));
element.addEventListener('focusin', (ev) => link(ev, true));
element.addEventListener('focusout', (ev) => link(ev, false));
"""


def documents_table(backend: Library) -> list[list[Any]]:
    return [[d.doc_id, d.title, d.outlet or "", d.date or "", d.n_chunks]
            for d in backend.qa.documents()]


# --------------------------------------------------------------------------------------
# The app
# --------------------------------------------------------------------------------------
CSS = """
.gradio-container { max-width: 1280px !important; margin: auto; }
#title h1 { margin-bottom: 0; } #title p { margin-top: 4px; color: var(--body-text-color-subdued); }
.chat { display: flex; flex-direction: column; gap: 10px; min-height: 320px; max-height: 62vh;
        overflow-y: auto; padding: 12px; border: 1px solid var(--border-color-primary);
        border-radius: 12px; background: var(--background-fill-secondary); }
.chat.empty { justify-content: center; color: var(--body-text-color-subdued); text-align: center; }
.msg { display: flex; } .msg.user { justify-content: flex-end; }
.msg .bubble { padding: 10px 14px; border-radius: 12px; max-width: 92%; line-height: 1.55; }
.msg.user .bubble { background: var(--color-accent-soft); }
.msg.bot .bubble { background: var(--background-fill-primary);
                   border: 1px solid var(--border-color-primary); }
.msg.bot.abstained .bubble { border-color: #d97706; }
.abstain { color: #b45309; }
.answer { margin: 0; }
.rewritten { text-align: right; font-size: 0.85em; color: var(--body-text-color-subdued); }
.meta { font-size: 0.78em; color: var(--body-text-color-subdued); margin-top: 6px; }
.pending { color: var(--body-text-color-subdued); font-style: italic; }
a.cite { position: relative; text-decoration: none; font-weight: 600; font-size: 0.85em;
         color: var(--color-accent); padding: 0 1px; vertical-align: super; }
a.cite .tip { display: none; position: absolute; z-index: 50; left: 0; top: 1.5em;
              width: 320px; padding: 8px 10px; border-radius: 8px; background: #1f2937;
              color: #f9fafb; font-weight: 400; font-size: 0.95em; line-height: 1.4;
              vertical-align: baseline; text-align: left; box-shadow: 0 4px 14px rgba(0,0,0,.25); }
a.cite:hover .tip, a.cite:focus .tip { display: block; }
.sources h3 { margin: 0 0 8px 0; font-size: 1em; }
.sources.empty { color: var(--body-text-color-subdued); padding: 12px; }
.card { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 10px 12px;
        margin-bottom: 10px; background: var(--background-fill-primary); scroll-margin: 80px; }
.card:target { outline: 2px solid var(--color-accent); }
.card-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 6px; margin-bottom: 6px; }
.card .num { background: var(--color-accent); color: white; border-radius: 6px;
             padding: 0 6px; font-weight: 700; font-size: 0.85em; }
.src-title { font-weight: 600; }
.src-outlet { font-size: 0.85em; color: var(--body-text-color-subdued); }
.src-doc { font-size: 0.75em; color: var(--body-text-color-subdued); font-family: monospace;
           margin-left: auto; }
.passage { font-size: 0.9em; line-height: 1.5; color: var(--body-text-color); }
.passage mark { background: #fde68a; color: #111827; padding: 0 2px; border-radius: 3px; }
#sources-col { max-height: 78vh; overflow-y: auto; }
.check.empty { color: var(--body-text-color-subdued); padding: 12px; }
.chk-summary { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 8px;
               margin: 4px 0 10px 0; font-size: 1.05em; }
.chk-legend { margin-left: auto; font-size: 0.85em; color: var(--body-text-color-subdued); }
.chk-legend .chk-s { margin-right: 6px; padding: 1px 6px;
                     color: var(--body-text-color) !important; }
.chk-grid { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 16px;
            align-items: start; }
@media (max-width: 900px) { .chk-grid { grid-template-columns: minmax(0, 1fr); } }
.chk-text { white-space: pre-wrap; line-height: 1.9; padding: 12px 14px;
            border: 1px solid var(--border-color-primary); border-radius: 12px;
            background: var(--background-fill-secondary); color: var(--body-text-color); }
.chk-s { color: inherit !important; text-decoration: none !important; border-radius: 4px;
         padding: 1px 2px; box-decoration-break: clone; -webkit-box-decoration-break: clone;
         scroll-margin: 80px; }
.chk-s.ok { background: rgba(22, 163, 74, 0.16); border-bottom: 2px solid #16a34a; }
.chk-s.bad { background: rgba(220, 38, 38, 0.14); border-bottom: 2px solid #dc2626; }
.chk-s.ok.linked, .chk-s.ok:target { background: rgba(22, 163, 74, 0.34); }
.chk-s.bad.linked, .chk-s.bad:target { background: rgba(220, 38, 38, 0.30); }
.chk-n { font-weight: 700; font-size: 0.75em; margin-left: 2px; }
.chk-s.ok .chk-n { color: #15803d; } .chk-s.bad .chk-n { color: #b91c1c; }
.dark .chk-s.ok .chk-n { color: #4ade80; } .dark .chk-s.bad .chk-n { color: #f87171; }
.chk-cards { max-height: 70vh; overflow-y: auto; padding: 2px; }
.chk-card.ok { border-left: 4px solid #16a34a; } .chk-card.bad { border-left: 4px solid #dc2626; }
.chk-card.linked, .chk-card:target { outline: 2px solid var(--color-accent); }
.chk-card.ok.linked { outline-color: #16a34a; } .chk-card.bad.linked { outline-color: #dc2626; }
.chk-card .num { text-decoration: none; }
.chk-card.ok .num { background: #16a34a; } .chk-card.bad .num { background: #dc2626; }
.verdict { font-weight: 600; font-size: 0.85em; }
.verdict.ok { color: #15803d; } .verdict.bad { color: #b91c1c; }
.dark .verdict.ok { color: #4ade80; } .dark .verdict.bad { color: #f87171; }
.chk-score { font-size: 0.75em; color: var(--body-text-color-subdued); margin-left: auto; }
.chk-reason { font-size: 0.88em; font-style: italic; color: var(--body-text-color);
              margin-bottom: 6px; }
.chk-label { font-size: 0.75em; text-transform: uppercase; letter-spacing: 0.04em;
             color: var(--body-text-color-subdued); margin-bottom: 2px; }
.chk-error { padding: 10px 14px; border-radius: 10px; border: 1px solid #dc2626;
             background: rgba(220, 38, 38, 0.10); color: var(--body-text-color); }
"""


def build_demo(backend: Library) -> gr.Blocks:
    settings = backend.settings

    def progress_fn(progress: gr.Progress) -> Callable[[str, int, int], None]:
        labels = {"scan": "Hashing files", "read": "Reading documents", "embed": "Embedding chunks"}

        def cb(stage: str, done: int, total: int) -> None:
            progress((done, max(total, 1)), desc=labels.get(stage, stage))

        return cb

    # -- chat ---------------------------------------------------------------------------
    def respond(
        question: str, turns: list[dict[str, Any]], top_k: float, generator: str
    ) -> Iterator[tuple[str, str, list[dict[str, Any]], str]]:
        question = " ".join(str(question or "").split())
        turns = list(turns or [])
        if not question:
            gr.Warning("Type a question first.")
            yield render_chat(turns), gr.skip(), turns, ""
            return
        history = [(t["question"], t.get("text", "")) for t in turns]
        k = len(turns)
        turn: dict[str, Any] = {"question": question}
        turns.append(turn)
        yield render_chat(turns), render_sources(None, k), turns, ""
        try:  # one QA for the whole answer, even if a re-index swaps it meanwhile
            qa = backend.qa_for(generator or backend.settings.generator)
        except RagError as exc:
            turn.update(html=f'<div class="abstain">{_e(exc)}</div>', text="")
            yield render_chat(turns), render_sources(None, k), turns, ""
            return
        t0 = time.perf_counter()
        first: float | None = None
        answer: Answer | None = None
        try:
            for answer in qa.stream(question, top_k=int(top_k), history=history):
                first = first or time.perf_counter() - t0
                turn.update(html=_answer_html(answer, k), abstained=answer.abstained,
                            text=answer.text, standalone=answer.standalone_question)
                yield render_chat(turns), render_sources(answer, k), turns, ""
        except RagError as exc:
            turn.update(html=f'<div class="abstain">{_e(exc)}</div>', text="")
            yield render_chat(turns), render_sources(None, k), turns, ""
            return
        if answer is not None:
            n = len(answer.citations)
            turn["meta"] = (
                f"{n} citation{'s' * (n != 1)} · {len(answer.passages)} passages · "
                f"first sentence {first or 0:.2f} s, done {time.perf_counter() - t0:.2f} s"
                if not answer.abstained else f"{len(answer.passages)} closest passages shown"
            )
            yield render_chat(turns), render_sources(answer, k), turns, ""

    def clear() -> tuple[str, str, list[dict[str, Any]]]:
        return render_chat([]), render_sources(None, 0), []

    def pick_generator(name: str) -> str:
        try:
            backend.qa_for(name)
        except RagError as exc:
            gr.Warning(f"Cannot use the {name!r} generator: {exc}")
            return backend.settings.generator
        return name

    # -- check a text -------------------------------------------------------------------
    def check_ui(text: str) -> str:
        try:
            return render_check(backend.qa.check(str(text or "")))
        except RagError as exc:
            return render_check(error=f"Cannot check this text: {exc}.")

    # -- API ----------------------------------------------------------------------------
    def ask(question: str, history: list | None = None) -> dict:
        """Answer a question: {"answer", "citations", "passages", "abstained",
        "standalone_question", ...}. ``history`` (optional) is the conversation so far, as
        [question, answer] pairs or chat messages {"role", "content"}: a follow-up question
        is rewritten with it ("standalone_question" says how)."""
        try:
            return backend.qa.ask(question, history=history or None).to_dict()
        except RagError as exc:
            raise gr.Error(str(exc)) from None

    def ask_stream(question: str, history: list | None = None) -> Iterator[dict]:
        """The answer as growing snapshots (the last one is final), as JSON like /ask;
        ``history`` as for /ask."""
        try:
            for a in backend.qa.stream(question, history=history or None):
                yield a.to_dict()
        except RagError as exc:
            raise gr.Error(str(exc)) from None

    def check(text: str) -> dict:
        """Check every sentence of a text against the corpus: {"text", "sentences":
        [{"sentence", "start", "end", "supported", "score", "reason", "citation"}],
        "supported", "unsupported"}."""
        try:
            return backend.qa.check(text).to_dict()
        except RagError as exc:
            raise gr.Error(str(exc)) from None

    def documents() -> list[dict]:
        """The indexed documents."""
        return [dict(zip(["doc_id", "title", "outlet", "date", "n_chunks"], row, strict=True))
                for row in documents_table(backend)]

    # -- library ------------------------------------------------------------------------
    def library_outputs(message: str) -> tuple[str, list[list[Any]], Any]:
        table = documents_table(backend)
        return message, table, gr.update(choices=[r[0] for r in table], value=None)

    def upload(files: Any, replace_existing: bool, progress: gr.Progress = gr.Progress()):  # noqa: B008
        paths = [files] if isinstance(files, str | Path) else list(files or [])
        if not paths:
            raise gr.Error("Choose one or more .txt, .md, .html or .pdf files first.")
        items: list[tuple[str, bytes]] = []
        for p in paths:
            path = Path(getattr(p, "name", p))
            if path.stat().st_size > MAX_UPLOAD_BYTES:
                raise gr.Error(f"{path.name} is over the 10 MB limit.")
            items.append((path.name, path.read_bytes()))
        try:
            names, stats = backend.add_files(items, bool(replace_existing), progress_fn(progress))
        except RagError as exc:
            raise gr.Error(f"Upload rejected — {exc}. The library is unchanged.") from None
        return library_outputs(f"Added {', '.join(names)}. Index: {stats.summary()}")

    def delete(doc_id: str, progress: gr.Progress = gr.Progress()):  # noqa: B008
        if not doc_id:
            raise gr.Error("Choose a document to delete.")
        try:
            stats = backend.delete(doc_id, progress_fn(progress))
        except RagError as exc:
            raise gr.Error(str(exc)) from None
        return library_outputs(f"Deleted {doc_id}. Index: {stats.summary()}")

    def reindex(progress: gr.Progress = gr.Progress()):  # noqa: B008
        try:
            stats = backend.reindex(progress_fn(progress))
        except RagError as exc:
            raise gr.Error(str(exc)) from None
        skipped = "".join(f"\n- skipped {d}: {r}" for d, r in stats.skipped)
        return library_outputs(f"Index: {stats.summary()}{skipped}")

    # -- layout -------------------------------------------------------------------------
    with gr.Blocks(title="rag — cited answers", analytics_enabled=False) as demo:
        gr.Markdown("# Ask the articles\nAnswers quoted from the indexed articles, with a "
                    "source for every sentence.", elem_id="title")
        turns = gr.State([])
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"), gr.Row(equal_height=False):
                with gr.Column(scale=3):
                    chat = gr.HTML(render_chat([]), elem_id="chat")
                    with gr.Row():
                        box = gr.Textbox(
                            placeholder="Ask a question, e.g. Why won't Russia drop Assad?",
                            show_label=False, scale=5, autofocus=True, elem_id="question",
                            max_length=2000, lines=1,
                        )
                        send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                        clear_btn = gr.Button("New chat", scale=0, min_width=120)
                    gr.Examples(EXAMPLES, inputs=box, label="Try")
                with gr.Column(scale=2, elem_id="sources-col"):
                    sources = gr.HTML(render_sources(None, 0), elem_id="sources")
            with gr.Tab("Check a text", id="check"):
                gr.Markdown("Paste any text: every sentence is checked against the indexed "
                            "articles and shown green when one of them supports it, red when "
                            "none does. Hover a sentence to find its source card.")
                check_box = gr.Textbox(
                    label="Text to check", lines=6, max_lines=16, elem_id="check-input",
                    placeholder="Paste a paragraph or an article (at most "
                    f"{MAX_CHECK_CHARS:,} characters).",
                )
                with gr.Row():
                    check_btn = gr.Button("Check", variant="primary", scale=0, min_width=160,
                                          elem_id="check-btn")
                    check_clear = gr.Button("Clear", scale=0, min_width=120)
                gr.Examples(CHECK_EXAMPLES, inputs=check_box, label="Try")
                check_out = gr.HTML(render_check(), elem_id="check-result", js_on_load=CHECK_JS)
            with gr.Tab("Library", id="library"):
                status = gr.Markdown(f"{len(backend.qa.documents())} documents indexed from "
                                     f"`{backend.corpus_dir}`.")
                table = gr.Dataframe(
                    value=documents_table(backend), headers=DOC_HEADERS, interactive=False,
                    wrap=True, elem_id="documents",
                )
                with gr.Row():
                    with gr.Column():
                        files = gr.File(
                            label="Add articles (.txt, .md, .html, .pdf; 10 MB each at most)",
                            file_count="multiple", file_types=list(UPLOAD_TYPES),
                            type="filepath",
                        )
                        replace_box = gr.Checkbox(label="Replace existing files with the same name")
                        add_btn = gr.Button("Add to library", variant="primary")
                    with gr.Column():
                        doc_pick = gr.Dropdown(
                            [r[0] for r in documents_table(backend)], label="Document",
                            value=None, allow_custom_value=False,
                        )
                        del_btn = gr.Button("Delete document", variant="stop")
                        gr.Markdown("Re-read the corpus folder (after editing files by hand):")
                        reindex_btn = gr.Button("Re-index")
            with gr.Tab("Settings", id="settings"):
                top_k = gr.Slider(1, 20, value=settings.top_k, step=1,
                                  label="Passages per answer (top_k)")
                generator = gr.Dropdown(
                    list(GENERATORS), value=settings.generator, label="Answer generator",
                    info="extractive quotes sentences from the articles; the others use a "
                    "language model (RAG_MODEL, OPENAI_BASE_URL / OLLAMA_HOST) and every "
                    "sentence they write is checked against the passages.",
                )
                gr.Markdown(f"Index `{backend.index_dir}` · embedding model "
                            f"`{settings.embedding_model}` · corpus `{backend.corpus_dir}`")

        ask_args: dict[str, Any] = dict(
            fn=respond, inputs=[box, turns, top_k, generator], outputs=[chat, sources, turns, box],
            api_visibility="undocumented", concurrency_id="answer", concurrency_limit=2,
        )
        box.submit(**ask_args)
        send.click(**ask_args)
        clear_btn.click(clear, None, [chat, sources, turns], api_visibility="private")
        generator.change(pick_generator, generator, generator, api_visibility="private")

        check_btn.click(check_ui, check_box, check_out, api_visibility="private",
                        concurrency_id="answer", concurrency_limit=2)
        check_clear.click(lambda: ("", render_check()), None, [check_box, check_out],
                          api_visibility="private")

        lib_out = [status, table, doc_pick]
        lib_args: dict[str, Any] = dict(concurrency_id="library", concurrency_limit=1)
        add_btn.click(upload, [files, replace_box], lib_out, api_name="upload", **lib_args).then(
            lambda: None, None, files, api_visibility="private"
        )
        del_btn.click(delete, doc_pick, lib_out, api_name="delete", **lib_args)
        reindex_btn.click(reindex, None, lib_out, api_name="reindex", **lib_args)

        gr.api(ask, api_name="ask", concurrency_id="answer", concurrency_limit=2)
        gr.api(ask_stream, api_name="ask_stream", concurrency_id="answer", concurrency_limit=2)
        gr.api(check, api_name="check", concurrency_id="answer", concurrency_limit=2)
        gr.api(documents, api_name="documents", queue=False)
    # Two CPU cores: one answer or text check keeps a core busy (embedding + scoring), so at
    # most two run at once and further requests wait in the queue instead of thrashing;
    # corpus changes run one at a time (they also hold the index build lock).
    demo.queue(default_concurrency_limit=1, max_size=64)
    return demo


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rag serve", description="Start the rag web UI.")
    p.add_argument("--host", help="interface to bind (default 127.0.0.1, $GRADIO_SERVER_NAME)")
    p.add_argument("--port", type=int, help="port (default 7860, $GRADIO_SERVER_PORT)")
    p.add_argument("--corpus", type=Path, help="corpus directory (default corpus, $RAG_CORPUS)")
    p.add_argument("--index", type=Path, help="index directory (default index, $RAG_INDEX)")
    p.add_argument("--model", dest="embedding_model", help="embedding model ($RAG_EMBEDDING_MODEL)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--"]:  # `rag serve -- --port 8000` passes the separator through
        argv = argv[1:]
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env().with_(
            corpus_dir=args.corpus, index_dir=args.index, embedding_model=args.embedding_model
        )
        host = args.host or os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
        port = args.port or int(os.environ.get("GRADIO_SERVER_PORT") or 7860)
        backend = Library(settings)
        print(f"rag: loading the index {settings.index_dir} (corpus {settings.corpus_dir})…",
              file=sys.stderr, flush=True)
        progress, close = tqdm_progress()
        try:
            stats = backend.start(progress)
        finally:
            close()
        if stats is not None:
            print(f"rag: built index: {stats.summary()}", file=sys.stderr, flush=True)
        demo = build_demo(backend)
    except (RagError, ValueError) as exc:
        print(f"rag: error: {exc}", file=sys.stderr)
        return 2
    theme = gr.themes.Soft(
        font=["system-ui", "-apple-system", "Segoe UI", "Helvetica", "Arial", "sans-serif"],
        font_mono=["ui-monospace", "Menlo", "Consolas", "monospace"],
    )  # system fonts: the default theme would fetch fonts from Google
    demo.launch(
        server_name=host, server_port=port, share=False, theme=theme, css=CSS,
        max_file_size=MAX_UPLOAD_BYTES, ssr_mode=False, show_error=True,
        footer_links=["api"], quiet=False,
    )
    return 0


__all__ = ["Backend", "Library", "build_demo", "main", "sanitize_filename"]
