"""The Gradio web UI: chat with cited sources, a document library, a text check, settings and
a JSON API.

``main(argv)`` (used by ``python app.py`` and ``rag serve``) reads the settings, builds the
index from the corpus when none exists (tqdm progress in the terminal), loads the model once,
and serves on 127.0.0.1:7860 by default (``--host/--port`` or ``GRADIO_SERVER_NAME`` /
``GRADIO_SERVER_PORT``), with analytics off and no outside requests (system fonts only).

- Chat: the answer streams in sentence by sentence and keeps its own sources under it: a card
  per cited passage with every quote of that passage highlighted and numbered. Each ``[n]``
  shows the source's title, outlet and the text around the quote on hover and scrolls to its
  quote on click; "Read in the article" opens the whole article scrolled to the quote. A
  premise the articles contradict gets its own heading above the cited correction; an
  abstention says so once and lists the closest passages. A new question scrolls the chat to
  it. The conversation goes with every question (``QA.stream(history=...)``), so a follow-up
  is rewritten into a standalone question (``rag.followup``), shown above the answer.
- Library: the indexed documents, read afresh on every page load and after every change;
  upload (.txt/.md/.html/.pdf, 10 MB at most): each file is checked on its own, the good
  ones added and the others named with the reason, and the selection is cleared; delete
  after a confirmation naming the document; re-index with progress. Messages appear in one
  place and never replace the table. The service behind it is ``rag.library.Library``.
- Check a text: paste any text; each sentence is shown green (an article supports it) or red
  (none does) with a numbered marker, and beside it a card per sentence with the supporting
  quote, or the closest passage and why it does not support it (``QA.check``).
- Settings: passages per answer (``top_k``) and the answer generator (extractive by default;
  a language model as configured by the settings object, every sentence verified).
- API: ``/ask`` (question and an optional history -> ``Answer.to_dict()`` JSON),
  ``/ask_stream`` (the same, as growing snapshots), ``/check`` (text ->
  ``CheckReport.to_dict()`` JSON), ``/documents``, ``/upload``, ``/delete``, ``/reindex``
  (these three all-or-nothing, raising an error that says why).

A user's error (a ``RagError``: an empty question, a too-long text, a rejected upload) is
logged as one line; only a bug logs a traceback. The HTML comes from ``rag.ui_render``, the
stylesheet and browser scripts from ``rag.ui_assets``. It does not answer questions itself
(``rag.chain``), manage the corpus and index (``rag.library``) or keep users' conversations
beyond their browser session.
"""

from __future__ import annotations

import argparse
import html
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the embedding model ships with the package

import gradio as gr  # noqa: E402 - the environment above must be set first

from .check import MAX_CHECK_CHARS  # noqa: E402
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
from .settings import GENERATORS, Settings, add_serve_arguments, serve_address  # noqa: E402
from .types import Answer  # noqa: E402
from .ui_assets import CHAT_JS, CHECK_JS, CSS  # noqa: E402
from .ui_render import (  # noqa: E402
    answer_kind,
    parse_spans,
    render_answer,
    render_article,
    render_chat,
    render_check,
    render_documents,
    render_error,
    render_notice,
    render_upload_result,
)

log = logging.getLogger("rag.ui")

EXAMPLES = [
    WARM_UP,
    "What naval assets does Russia have in Syria?",
    "Who does Moscow see as the loser if Assad falls?",
]
CHECK_EXAMPLES = [
    "It would deprive Moscow of its only ally in the Middle East that hosts Russian air force "
    "and naval assets. Putin has made clear he will not abandon Assad. The Eiffel Tower was "
    "moved to Berlin in 2015.",
]
DOC_HEADERS = ["Document", "Title", "Outlet", "Date", "Chunks"]
CHOOSE_FILES = "Choose one or more .txt, .md, .html or .pdf files first."
# After a library change, bring its message into view (on a phone it is far above the buttons).
_SHOW_FIRST = ("() => {{ const m = [{}].map((q) => document.querySelector(q))"
               ".find((e) => e && e.offsetParent !== null); "
               "if (m) m.scrollIntoView({{ block: 'nearest', behavior: 'smooth' }}); }}")
SHOW_LIB_MSG = _SHOW_FIRST.format("'#lib-msg .lib-msg'")
SHOW_CONFIRM = _SHOW_FIRST.format("'#delete-confirm', '#lib-msg .lib-msg'")
ArticleRequest = dict[str, Any]


def _sentence(text: Any) -> str:
    text = str(text).strip()
    return text[:1].upper() + text[1:]


def user_error(where: str, exc: RagError) -> gr.Error:
    """A user's mistake: one log line, and an error for the caller without a traceback."""
    log.info("%s: %s", where, exc)
    return gr.Error(_sentence(exc), print_exception=False)


def documents_table(backend: Library) -> list[list[Any]]:
    return [[d.doc_id, d.title, d.outlet or "", d.date or "", d.n_chunks]
            for d in backend.qa.documents()]


def _reason(message: str, names: Sequence[str]) -> str:
    """A rejection message without the file names it starts with (the list names the file)."""
    prefixes = [p for n in names for p in (f"{n} was rejected: ", f"{n}: ", f"{n!r}: ")]
    while True:
        prefix = next((p for p in prefixes if message.startswith(p)), None)
        if prefix is None:
            return message
        message = message[len(prefix):]


def _upload_paths(files: Any) -> list[Path]:
    items = [files] if isinstance(files, str | Path) else list(files or [])
    return [Path(getattr(p, "name", p)) for p in items]


# --------------------------------------------------------------------------------------
# The app
# --------------------------------------------------------------------------------------
def build_demo(backend: Library) -> gr.Blocks:
    settings = backend.settings

    def progress_fn(progress: gr.Progress) -> Callable[[str, int, int], None]:
        labels = {"scan": "Hashing files", "read": "Reading documents", "embed": "Embedding chunks"}

        def cb(stage: str, done: int, total: int) -> None:
            progress((done, max(total, 1)), desc=labels.get(stage, stage))

        return cb

    # -- chat ---------------------------------------------------------------------------
    def answer_updates(
        question: str, history: list[tuple[str, str]], k: int, top_k: float, generator: str
    ) -> Iterator[dict[str, Any]]:
        """What to show for turn ``k`` as the answer streams in: its HTML, kind and text."""
        t0 = time.perf_counter()
        first: float | None = None
        answer: Answer | None = None
        try:  # one QA for the whole answer, even if a re-index swaps it meanwhile
            qa = backend.qa_for(generator or settings.generator)
            for answer in qa.stream(question, top_k=int(top_k), history=history):
                first = first or time.perf_counter() - t0
                yield {"html": render_answer(answer, k), "kind": answer_kind(answer),
                       "text": answer.text, "standalone": answer.standalone_question}
        except RagError as exc:
            log.info("chat: %s", exc)
            yield {"html": render_error(f"{_sentence(exc)}."), "kind": "error", "text": ""}
            return
        except Exception:  # a bug: the traceback goes to the log, the chat stays usable
            log.exception("chat: answering %r failed", question)
            yield {"html": render_error("Something went wrong while answering; the details "
                                        "are in the server log."), "kind": "error", "text": ""}
            return
        if answer is not None:
            n = len(answer.citations)
            took = f"first sentence {first or 0:.2f} s, done {time.perf_counter() - t0:.2f} s"
            yield {"meta": f"{n} citation{'s' * (n != 1)} · {len(answer.passages)} passages · "
                   f"{took}" if n else f"{len(answer.passages)} closest passages · {took}"}

    def respond(
        question: str, turns: list[dict[str, Any]], top_k: float, generator: str
    ) -> Iterator[tuple[str, list[dict[str, Any]], str]]:
        question = " ".join(str(question or "").split())
        turns = list(turns or [])
        if not question:
            gr.Warning("Type a question first.")
            yield render_chat(turns), turns, ""
            return
        history = [(t["question"], t.get("text", "")) for t in turns]
        turn: dict[str, Any] = {"question": question}
        turns.append(turn)
        yield render_chat(turns), turns, ""
        for update in answer_updates(question, history, len(turns) - 1, top_k, generator):
            turn.update(update)
            yield render_chat(turns), turns, ""
        turn["done"] = True
        yield render_chat(turns), turns, ""

    def clear() -> tuple[str, list[dict[str, Any]]]:
        return render_chat([]), []

    def pick_generator(name: str) -> str:
        try:
            backend.qa_for(name)
        except RagError as exc:
            log.info("settings: generator %s: %s", name, exc)
            gr.Warning(f"Cannot use the {name!r} generator: {exc}")
            return backend.settings.generator
        return name

    def article(request: ArticleRequest) -> str:
        """The whole article ``request["doc_id"]`` with the ``spans`` ([n, start, end]) marked
        (called from the browser when "Read in the article" is clicked)."""
        request = request if isinstance(request, dict) else {}
        doc_id = str(request.get("doc_id") or "")
        qa = backend.qa
        try:
            text = qa.document_text(doc_id)
        except KeyError:
            log.info("article: no document %r", doc_id)
            return render_error(f"{doc_id or 'This article'} is no longer in the library.")
        info = next((d for d in qa.documents() if d.doc_id == doc_id), None)
        focus = request.get("focus")
        return render_article(
            doc_id, text, info.title if info else "", info.outlet if info else None,
            info.date if info else None, parse_spans(request.get("spans"), len(text)),
            int(focus) if isinstance(focus, int | float) else 0,
        )

    # -- check a text -------------------------------------------------------------------
    def check_ui(text: str) -> str:
        try:
            return render_check(backend.qa.check(str(text or "")))
        except RagError as exc:
            log.info("check: %s", exc)
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
            raise user_error("/ask", exc) from None

    def ask_stream(question: str, history: list | None = None) -> Iterator[dict]:
        """The answer as growing snapshots (the last one is final), as JSON like /ask;
        ``history`` as for /ask."""
        try:
            for a in backend.qa.stream(question, history=history or None):
                yield a.to_dict()
        except RagError as exc:
            raise user_error("/ask_stream", exc) from None

    def check(text: str) -> dict:
        """Check every sentence of a text against the corpus: {"text", "sentences":
        [{"sentence", "start", "end", "supported", "score", "reason", "citation"}],
        "supported", "unsupported"}."""
        try:
            return backend.qa.check(text).to_dict()
        except RagError as exc:
            raise user_error("/check", exc) from None

    def documents() -> list[dict]:
        """The indexed documents."""
        return [dict(zip(["doc_id", "title", "outlet", "date", "n_chunks"], row, strict=True))
                for row in documents_table(backend)]

    def api_result(message: str) -> tuple[str, list[list[Any]], list[str]]:
        table = documents_table(backend)
        return message, table, [r[0] for r in table]

    def api_upload(files: Any, replace_existing: bool, progress: gr.Progress = gr.Progress()):  # noqa: B008
        """Add files (all or none): (status, table, doc ids); an error says why not."""
        items = []
        for path in _upload_paths(files):
            if path.stat().st_size > MAX_UPLOAD_BYTES:
                raise user_error("/upload", RagError(f"{path.name} is over the 10 MB limit"))
            items.append((path.name, path.read_bytes()))
        if not items:
            raise user_error("/upload", RagError(CHOOSE_FILES))
        try:
            names, stats = backend.add_files(items, bool(replace_existing), progress_fn(progress))
        except RagError as exc:
            raise user_error("/upload", RagError(
                f"upload rejected — {exc}. The library is unchanged")) from None
        return api_result(f"Added {', '.join(names)}. Index: {stats.summary()}")

    def api_delete(doc_id: str, progress: gr.Progress = gr.Progress()):  # noqa: B008
        """Delete a document: (status, table, doc ids)."""
        try:
            stats = backend.delete(str(doc_id or ""), progress_fn(progress))
        except RagError as exc:
            raise user_error("/delete", exc) from None
        return api_result(f"Deleted {doc_id}. Index: {stats.summary()}")

    def api_reindex(progress: gr.Progress = gr.Progress()):  # noqa: B008
        """Re-read the corpus folder: (status, table, doc ids)."""
        try:
            stats = backend.reindex(progress_fn(progress))
        except RagError as exc:
            raise user_error("/reindex", exc) from None
        skipped = "".join(f"\n- skipped {d}: {r}" for d, r in stats.skipped)
        return api_result(f"Index: {stats.summary()}{skipped}")

    # -- library (UI: never raises, always shows the library as it is) ------------------
    def library_view() -> tuple[str, str, Any]:
        docs = backend.qa.documents()
        n = len(docs)
        count = f"**{n} document{'s' * (n != 1)}** indexed from `{backend.corpus_dir}`."
        table = render_documents(docs)
        choices = [(f"{d.title or d.doc_id} — {d.doc_id}", d.doc_id) for d in docs]
        return count, table, gr.update(choices=choices, value=None)

    def add_checked(
        files: Any, replace_existing: bool, progress: gr.Progress
    ) -> tuple[list[str], list[tuple[str, str]], str]:
        """Check each file on its own, add the good ones: (added, [(file, why)], summary)."""
        rejected: list[tuple[str, str]] = []
        valid: list[tuple[str, bytes]] = []
        saved_as: set[str] = set()
        for path in _upload_paths(files):
            if path.stat().st_size > MAX_UPLOAD_BYTES:
                rejected.append((path.name, f"{path.stat().st_size / 1e6:.1f} MB is over the "
                                 "10 MB limit"))
                continue
            data = path.read_bytes()
            try:
                safe = backend.check_upload(path.name, data, replace_existing)
            except RagError as exc:
                rejected.append((path.name, _reason(str(exc), [path.name,
                                                               _safe_name(path.name)])))
                continue
            if safe in saved_as:
                rejected.append((path.name, f"another file of this upload is also saved as "
                                 f"{safe}"))
                continue
            saved_as.add(safe)
            valid.append((path.name, data))
        added: list[str] = []
        summary = ""
        if valid:
            try:
                added, stats = backend.add_files(valid, replace_existing, progress_fn(progress))
                summary = stats.summary()
            except RagError as exc:
                rejected += [(name, str(exc)) for name, _ in valid]
        for name, why in rejected:
            log.info("upload: %s rejected: %s", name, why)
        return added, rejected, summary

    def guarded(action: str, work: Callable[[], str]) -> str:
        """The message of a library change. A bug is logged with its traceback and reported
        here too, so the page goes on showing the library instead of error badges."""
        try:
            return work()
        except Exception:
            log.exception("library: %s failed", action)
            return render_notice(f"The {action} failed unexpectedly (the details are in the "
                                 "server log); the list shows the library as it is now.",
                                 "error")

    def upload_ui(files: Any, replace_existing: bool, progress: gr.Progress = gr.Progress()):  # noqa: B008
        def work() -> str:
            if not _upload_paths(files):
                return render_notice(CHOOSE_FILES, "error")
            return render_upload_result(*add_checked(files, bool(replace_existing), progress))

        message = guarded("upload", work)
        return (*library_view(), message, None)  # None: the selection is cleared

    def doc_label(doc_id: str) -> str | None:
        info = next((d for d in backend.qa.documents() if d.doc_id == doc_id), None)
        return None if info is None else (info.title or doc_id)

    def ask_delete(doc_id: str | None):
        hidden = gr.update(visible=False)
        if not doc_id:
            return hidden, "", render_notice("Choose a document to delete first.", "error"), None
        title = doc_label(doc_id)
        if title is None:
            return hidden, "", render_notice(f"{doc_id} is no longer in the library.",
                                             "error"), None
        question = (f"<p>Delete <b>{html.escape(title)}</b> (<code>{html.escape(doc_id)}</code>)"
                    f" from the library? Its file is removed from the corpus folder and the "
                    f"index is rebuilt; answers will no longer cite it.</p>")
        return gr.update(visible=True), question, "", doc_id

    def delete_ui(doc_id: str | None, progress: gr.Progress = gr.Progress()):  # noqa: B008
        def work() -> str:
            if not doc_id:
                return render_notice("Choose a document to delete first.", "error")
            title = doc_label(doc_id) or doc_id
            try:
                stats = backend.delete(doc_id, progress_fn(progress))
            except RagError as exc:
                log.info("delete: %s: %s", doc_id, exc)
                return render_notice(f"{doc_id} was not deleted: {exc}. The library is "
                                     "unchanged.", "error")
            return render_notice(f"Deleted {title} ({doc_id}). Index: {stats.summary()}", "ok")

        message = guarded("delete", work)
        return (*library_view(), message, gr.update(visible=False), None)

    def cancel_delete():
        return gr.update(visible=False), None, render_notice("Nothing was deleted.")

    def reindex_ui(progress: gr.Progress = gr.Progress()):  # noqa: B008
        def work() -> str:
            try:
                stats = backend.reindex(progress_fn(progress))
            except RagError as exc:
                log.info("reindex: %s", exc)
                return render_notice(f"Re-index failed: {exc}. The index is as it was.",
                                     "error")
            skipped = "; ".join(f"skipped {d}: {r}" for d, r in stats.skipped)
            return render_notice(f"Re-indexed. Index: {stats.summary()}"
                                 + (f". {skipped}" if skipped else ""),
                                 "mixed" if skipped else "ok")

        return (*library_view(), guarded("re-index", work))

    # -- layout -------------------------------------------------------------------------
    count0, table0, _ = library_view()
    with gr.Blocks(title="rag — cited answers", analytics_enabled=False) as demo:
        gr.Markdown("# Ask the articles\nAnswers quoted from the indexed articles, with a "
                    "source for every sentence.", elem_id="title")
        turns = gr.State([])
        pending_delete = gr.State(None)
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                chat = gr.HTML(render_chat([]), elem_id="chat", js_on_load=CHAT_JS,
                               server_functions=[article])
                with gr.Row(equal_height=True):
                    box = gr.Textbox(
                        placeholder="Ask a question, e.g. Why won't Russia drop Assad?",
                        show_label=False, scale=5, autofocus=True, elem_id="question",
                        max_length=2000, lines=1, min_width=220,
                    )
                    send = gr.Button("Ask", variant="primary", scale=1, min_width=80,
                                     elem_id="ask")
                    clear_btn = gr.Button("New chat", scale=0, min_width=120)
                gr.Examples(EXAMPLES, inputs=box, label="Try")
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
            with gr.Tab("Library", id="library") as lib_tab:
                lib_count = gr.Markdown(count0, elem_id="lib-count")
                lib_msg = gr.HTML("", elem_id="lib-msg")
                table = gr.HTML(table0, elem_id="documents")
                with gr.Row():
                    with gr.Column(min_width=280):
                        files = gr.File(
                            label="Add articles (.txt, .md, .html, .pdf; 10 MB each at most)",
                            file_count="multiple", file_types=list(UPLOAD_TYPES),
                            type="filepath", elem_id="upload-files",
                        )
                        replace_box = gr.Checkbox(label="Replace existing files with the same name")
                        add_btn = gr.Button("Add to library", variant="primary", elem_id="add-btn")
                    with gr.Column(min_width=280):
                        doc_pick = gr.Dropdown(
                            [], label="Document", value=None, allow_custom_value=False,
                            elem_id="doc-pick",
                        )
                        del_btn = gr.Button("Delete document…", elem_id="del-btn")
                        with gr.Column(visible=False, elem_id="delete-confirm",
                                       variant="panel") as confirm_box:
                            confirm_text = gr.HTML("")
                            with gr.Row():
                                confirm_yes = gr.Button("Delete", variant="stop",
                                                        elem_id="del-yes", min_width=100)
                                confirm_no = gr.Button("Cancel", elem_id="del-no",
                                                       min_width=100)
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
        with gr.Column(visible=False):  # inputs and outputs of the library API only
            api_files = gr.File(file_count="multiple", type="filepath")
            api_replace = gr.Checkbox()
            api_doc = gr.Textbox()
            api_status = gr.Textbox()
            api_table = gr.Dataframe(headers=DOC_HEADERS)
            api_ids = gr.JSON()
            api_upload_btn, api_delete_btn, api_reindex_btn = (gr.Button() for _ in range(3))

        ask_args: dict[str, Any] = dict(
            fn=respond, inputs=[box, turns, top_k, generator], outputs=[chat, turns, box],
            api_visibility="undocumented", concurrency_id="answer", concurrency_limit=2,
            show_progress="hidden",  # the chat says "Searching…" / "Writing…" itself
        )
        box.submit(**ask_args)
        send.click(**ask_args)
        clear_btn.click(clear, None, [chat, turns], api_visibility="private")
        generator.change(pick_generator, generator, generator, api_visibility="private")

        check_btn.click(check_ui, check_box, check_out, api_visibility="private",
                        concurrency_id="answer", concurrency_limit=2)
        check_clear.click(lambda: ("", render_check()), None, [check_box, check_out],
                          api_visibility="private")

        view = [lib_count, table, doc_pick]
        private: dict[str, Any] = dict(api_visibility="private")
        lib_args: dict[str, Any] = dict(concurrency_id="library", concurrency_limit=1)
        quiet: dict[str, Any] = dict(show_progress="hidden", **private)
        demo.load(library_view, None, view, **quiet)
        lib_tab.select(library_view, None, view, **quiet)
        add_btn.click(upload_ui, [files, replace_box], [*view, lib_msg, files],
                      **private, **lib_args).then(None, js=SHOW_LIB_MSG)
        del_btn.click(ask_delete, doc_pick, [confirm_box, confirm_text, lib_msg, pending_delete],
                      **private).then(None, js=SHOW_CONFIRM)
        confirm_yes.click(delete_ui, pending_delete,
                          [*view, lib_msg, confirm_box, pending_delete], **private, **lib_args
                          ).then(None, js=SHOW_LIB_MSG)
        confirm_no.click(cancel_delete, None, [confirm_box, pending_delete, lib_msg], **private)
        doc_pick.input(lambda: (gr.update(visible=False), None), None,
                       [confirm_box, pending_delete], **private)
        reindex_btn.click(reindex_ui, None, [*view, lib_msg], **private, **lib_args).then(
            None, js=SHOW_LIB_MSG)

        api_out = [api_status, api_table, api_ids]
        api_upload_btn.click(api_upload, [api_files, api_replace], api_out, api_name="upload",
                             **lib_args)
        api_delete_btn.click(api_delete, api_doc, api_out, api_name="delete", **lib_args)
        api_reindex_btn.click(api_reindex, None, api_out, api_name="reindex", **lib_args)
        gr.api(ask, api_name="ask", concurrency_id="answer", concurrency_limit=2)
        gr.api(ask_stream, api_name="ask_stream", concurrency_id="answer", concurrency_limit=2)
        gr.api(check, api_name="check", concurrency_id="answer", concurrency_limit=2)
        gr.api(documents, api_name="documents", queue=False)
    # Two CPU cores: one answer or text check keeps a core busy (embedding + scoring), so at
    # most two run at once and further requests wait in the queue instead of thrashing;
    # corpus changes run one at a time (they also hold the index build lock).
    demo.queue(default_concurrency_limit=1, max_size=64)
    return demo


def _safe_name(name: str) -> str:
    try:
        return sanitize_filename(name)
    except RagError:
        return name


def _log_to_stderr() -> None:
    """One line per user error on stderr (``rag.ui`` at INFO), whoever configured logging."""
    log.setLevel(logging.INFO)
    if not logging.getLogger().handlers and not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("rag.ui: %(message)s"))
        log.addHandler(handler)
        log.propagate = False


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rag serve", description="Start the rag web UI.")
    return add_serve_arguments(p)  # the same options as `rag serve` (rag.settings)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--"]:  # `rag serve -- --port 8000` passes the separator through
        argv = argv[1:]
    args = _parser().parse_args(argv)
    _log_to_stderr()
    try:
        settings = Settings.from_env().with_(
            corpus_dir=args.corpus, index_dir=args.index, embedding_model=args.embedding_model
        )
        host, port = serve_address(args.host, args.port)  # before the model loads
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
    except RagError as exc:
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


__all__ = ["Backend", "Library", "build_demo", "main", "render_check", "sanitize_filename"]
