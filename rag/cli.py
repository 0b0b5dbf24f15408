"""The ``rag`` command line: ``rag index``, ``ask``, ``chat``, ``check``, ``docs``, ``eval``,
``serve``.

Settings come from ``RAG_*`` variables (see ``rag.settings``) and flags; flags win. Errors the
user can fix (``RagError``: bad flags, variables, files, a missing index) print one line and
exit 2; anything else is a bug and keeps its traceback. Nothing heavy is imported before a
command runs, so ``rag --help`` is instant; while a model loads, a line on stderr says so
(``rag.loading``). ``rag serve`` and ``rag eval`` take the options of ``python app.py`` and
``python -m evals`` (defined once, in ``rag.settings.add_serve_arguments`` and
``evals.__main__.add_arguments``) and hand their arguments over to them.

``rag chat`` reads questions from standard input, one a line, and answers each with the
conversation so far (follow-ups are understood); it ends on end of input, ``exit`` /
``quit`` or Ctrl-C, and an error about one question does not end it.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import sys
from pathlib import Path

from .errors import IndexMismatchError, IndexMissingError, MissingDependencyError, RagError
from .settings import CHUNK_VECTORS, GENERATORS, Settings, add_serve_arguments, serve_address
from .types import Answer


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rag",
        description="Answers from a collection of articles, with a checked citation on every "
        "sentence.",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--index", type=Path, help="index directory (default: index, $RAG_INDEX)")
        sp.add_argument(
            "--model", dest="embedding_model",
            help="embedding model: a name shipped offline or a local folder ($RAG_EMBEDDING_MODEL)",
        )

    ix = sub.add_parser("index", help="build or update the index from a corpus directory")
    ix.add_argument("corpus", nargs="?", type=Path, help="corpus directory (default: corpus)")
    common(ix)
    ix.add_argument("--rebuild", action="store_true", help="re-read every document")
    ix.add_argument("--batch-size", type=int, dest="embed_batch_size")
    ix.add_argument(
        "--chunk-vectors", choices=CHUNK_VECTORS, dest="chunk_vectors",
        help="how a chunk's vector is made: the length-weighted mean of its sentences' "
        "vectors (sentence-mean, default: ~2x faster builds) or the chunk embedded whole "
        "(whole); changing it makes every chunk vector again ($RAG_CHUNK_VECTORS)",
    )
    ix.add_argument(
        "--ray", nargs="?", const="local", metavar="ADDRESS",
        help="read and embed on Ray: a local instance, or the cluster at ADDRESS (HOST:6379, "
        "auto); put it after the corpus directory; needs pip install 'rag[ray]'",
    )
    ix.add_argument("--ray-workers", type=int, metavar="N",
                    help="embedding workers on Ray (default: the cluster's CPUs, 2 locally)")

    def answering(sp: argparse.ArgumentParser) -> None:
        common(sp)
        sp.add_argument("-k", "--top-k", type=int, dest="top_k",
                        help="passages to use (default 5)")
        sp.add_argument("--json", action="store_true", help="print the answer as JSON")
        sp.add_argument("--generator", choices=GENERATORS,
                        help="answer writer (default extractive; $RAG_GENERATOR)")
        sp.add_argument("--llm", dest="model",
                        help="chat model name, or GGUF path for llamacpp ($RAG_MODEL)")
        sp.add_argument("--base-url", dest="base_url",
                        help="model server URL ($OPENAI_BASE_URL / $OLLAMA_HOST)")
        sp.add_argument("--passages", action="store_true",
                        help="also print the retrieved passages")

    ask = sub.add_parser("ask", help="answer a question with cited sources")
    ask.add_argument("question", help='e.g. "Why won\'t Russia drop Assad?"')
    answering(ask)

    chat = sub.add_parser(
        "chat",
        help="answer questions one after another, follow-ups included",
        description="Type a question, get a cited answer; follow-up questions (\"And how did "
        "Moscow respond to that?\") are understood from the conversation. Reads standard "
        "input, one question a line, so questions can be piped in (--json prints one JSON "
        "answer a line). Leave with exit, quit, Ctrl-D or Ctrl-C.",
    )
    answering(chat)

    ck = sub.add_parser(
        "check",
        help="check a text against the corpus, sentence by sentence",
        description="Check every sentence of a text (a draft, another model's answer) against "
        "the indexed articles. Exit status: 0 when every sentence is supported, 1 when some "
        "are not, 2 on bad input.",
    )
    ck.add_argument("file", help="text file to check, or - for standard input")
    common(ck)
    ck.add_argument("-k", "--top-k", type=int, dest="top_k",
                    help="passages tried per sentence (default 5)")
    ck.add_argument("--json", action="store_true", help="print the verdicts as JSON")

    docs = sub.add_parser("docs", help="list the indexed documents")
    common(docs)

    import evals.__main__ as evals_main  # light: the options only; the run imports the rest

    ev = sub.add_parser("eval", help="run the eval suite (same as python -m evals)",
                        description=evals_main.__doc__)
    evals_main.add_arguments(ev)

    sv = sub.add_parser("serve", help="start the web UI (same as python app.py)",
                        description="Start the web UI (the same as python app.py): build the "
                        "index from the corpus when none exists, then serve it.")
    add_serve_arguments(sv)
    return p


def _handed_over(argv: list[str], command: str) -> list[str]:
    """The arguments after ``command``: ``rag serve`` / ``rag eval`` pass them on unchanged
    (already checked by the same option definitions)."""
    return argv[argv.index(command) + 1 :]


class _StderrLine(logging.Handler):
    """``rag: message`` on the current stderr (looked up at each line, as pytest swaps it)."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"rag: {record.getMessage()}", file=sys.stderr, flush=True)


def _show_loading() -> None:
    """Show the ``rag.loading`` lines (a model loading, then the time it took) on stderr."""
    loading = logging.getLogger("rag.loading")
    loading.setLevel(logging.INFO)
    loading.propagate = False  # once, with or without -v
    if not any(isinstance(h, _StderrLine) for h in loading.handlers):
        loading.addHandler(_StderrLine())


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s" if args.verbose else "warning: %(message)s",
    )
    _show_loading()
    if args.command == "eval":  # reads its own settings and reports its own errors
        from evals.__main__ import main as eval_main

        return int(eval_main(_handed_over(argv, "eval")) or 0)
    if args.command == "serve":
        try:
            serve_address(args.host, args.port)  # before gradio and the model load
        except RagError as exc:
            print(f"rag: error: {exc}", file=sys.stderr)
            return 2
        from .ui import main as ui_main

        return int(ui_main(_handed_over(argv, "serve")) or 0)
    try:
        settings = Settings.from_env().with_(
            index_dir=getattr(args, "index", None),
            embedding_model=getattr(args, "embedding_model", None),
            top_k=getattr(args, "top_k", None),
            corpus_dir=getattr(args, "corpus", None),
            embed_batch_size=getattr(args, "embed_batch_size", None),
            chunk_vectors=getattr(args, "chunk_vectors", None),
            generator=getattr(args, "generator", None),
            model=getattr(args, "model", None),
            base_url=getattr(args, "base_url", None),
        )
        if args.command == "index":
            return _index(settings, args.rebuild, args.ray, args.ray_workers)
        if args.command == "ask":
            return _ask(settings, args.question, args.json, args.passages)
        if args.command == "chat":
            return _chat(settings, args.json, args.passages)
        if args.command == "check":
            return _check(settings, args.file, args.json)
        if args.command == "docs":
            return _docs(settings)
    except RagError as exc:  # the user can fix it; anything else is a bug: keep the traceback
        print(f"rag: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rag: interrupted; the previous index is intact", file=sys.stderr)
        return 130
    return 0


def _index(
    settings: Settings, rebuild: bool, ray: str | None = None, ray_workers: int | None = None
) -> int:
    from contextlib import AbstractContextManager, nullcontext

    from .index import build_index
    from .progress import tqdm_progress

    if ray_workers is not None and ray is None:
        raise RagError("--ray-workers goes with --ray; add --ray (local) or --ray ADDRESS")
    _check_writable(settings.index_dir)
    executor = None
    if ray is not None:  # Ray is imported here only
        from .index_ray import RayExecutor

        executor = RayExecutor(settings.embedding_model,
                               address=None if ray == "local" else ray, workers=ray_workers)
    running: AbstractContextManager[object] = executor or nullcontext()
    progress, close = tqdm_progress()
    try:
        with running:  # a local Ray instance stops at the end
            stats = build_index(
                settings.corpus_dir, settings.index_dir,
                embedding_model=settings.embedding_model, chunk_size=settings.chunk_size,
                chunk_overlap=settings.chunk_overlap, batch_size=settings.embed_batch_size,
                rebuild=rebuild, progress=progress, executor=executor,
                chunk_vectors=settings.chunk_vectors,
            )
    finally:
        close()
    for doc_id, reason in stats.skipped:
        print(f"skipped {doc_id}: {reason}", file=sys.stderr)
    print(f"index {settings.index_dir}: {stats.summary()}")
    return 0


def _check_writable(index_dir: Path) -> None:
    """A one-line error, before any work, for an index directory that cannot be written."""
    if index_dir.exists() and not index_dir.is_dir():
        raise RagError(f"the index path {index_dir} is a file; pass --index a directory")
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RagError(f"cannot create the index directory {index_dir}: "
                       f"{exc.strerror or exc}; pass --index a directory you can write") from None
    if not os.access(index_dir, os.W_OK | os.X_OK):
        raise RagError(f"cannot write to the index directory {index_dir}; pass --index a "
                       "directory you can write, or fix its permissions")


def _ask(settings: Settings, question: str, as_json: bool, show_passages: bool) -> int:
    from .chain import load

    qa = load(settings.index_dir, settings)
    _print_answer(qa.ask(question), as_json, show_passages)
    return 0


def _print_answer(
    answer: Answer, as_json: bool, show_passages: bool, indent: int | None = 2
) -> None:
    import json

    if as_json:
        print(json.dumps(answer.to_dict(), indent=indent, ensure_ascii=False), flush=True)
        return
    print(answer.text)
    print()
    if answer.citations:
        print("Sources:")
        for c in answer.citations:
            where = f"{c.title}" + (f" ({c.outlet})" if c.outlet else "")
            print(f"[{c.n}] {where} — {c.doc_id}:{c.start}-{c.end}")
            print(f"    “{c.quote}”")
    if show_passages or answer.abstained:
        print("Closest passages:" if answer.abstained else "Passages:")
        for i, p in enumerate(answer.passages, 1):
            snippet = " ".join(p.text.split())
            print(f"  {i}. {p.title} — {p.doc_id} (score {p.score:.3f})")
            print(f"     {snippet[:240]}{'…' if len(snippet) > 240 else ''}")
    sys.stdout.flush()


# Errors that end a chat: nothing can be answered until the user fixes them.
_FATAL = (IndexMissingError, IndexMismatchError, MissingDependencyError)


def _chat(settings: Settings, as_json: bool, show_passages: bool) -> int:
    from .chain import load

    qa = load(settings.index_dir, settings)
    if isinstance(sys.stdin, io.TextIOWrapper):
        # A byte that is not UTF-8 (strict under most desktop locales) would end the chat
        # with a traceback: it becomes U+FFFD in that question instead.
        sys.stdin.reconfigure(errors="replace")
    interactive = sys.stdin.isatty()
    if interactive:
        print("Ask about the indexed articles; follow-up questions are understood. "
              "Leave with exit or Ctrl-D.", file=sys.stderr)
    history: list[tuple[str, str]] = []
    try:
        while True:
            line = _next_line(interactive)
            if line is None:
                break
            question = " ".join(line.split())
            if not question:
                continue
            if question.lower() in ("exit", "quit", "bye"):
                break
            try:
                answer = qa.ask(question, history=history)
            except _FATAL:
                raise
            except RagError as exc:  # about this question (too long, a server down): go on
                print(f"rag: error: {exc}", file=sys.stderr, flush=True)
                continue
            if not as_json and answer.standalone_question not in (None, question):
                print(f"(searched as: {answer.standalone_question})")
            _print_answer(answer, as_json, show_passages, indent=None)  # JSON: one line each
            if not as_json:
                print()
            history.append((question, answer.text))
    except KeyboardInterrupt:
        print(file=sys.stderr)
    return 0


def _next_line(interactive: bool) -> str | None:
    """The next line of standard input (with a prompt on a terminal), None at its end."""
    if interactive:
        try:
            return input("> ")
        except EOFError:
            print(file=sys.stderr)
            return None
    line = sys.stdin.readline()
    return line if line else None


def _read_input(file: str) -> str:
    if file == "-":
        stream = getattr(sys.stdin, "buffer", None)
        if stream is None:  # a text stream without bytes underneath (e.g. io.StringIO)
            return sys.stdin.read()
        try:  # newlines as when reading a file: \r\n and \r become \n
            return stream.read().decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
        except UnicodeDecodeError:
            raise RagError("standard input is not UTF-8 text; convert it "
                           "(e.g. iconv -t utf-8)") from None
    path = Path(file)
    if path.is_dir():
        raise RagError(f"{file} is a directory; pass a text file, or - to read standard input")
    if not path.is_file():
        raise RagError(f"{file}: no such file; pass a text file, or - to read standard input")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RagError(f"{file} is not UTF-8 text; convert it (e.g. iconv -t utf-8)") from None
    except OSError as exc:  # permission denied, an I/O error
        raise RagError(f"cannot read {file}: {exc.strerror or exc}; check the file") from None


def _check(settings: Settings, file: str, as_json: bool) -> int:
    import json

    from .chain import load

    text = _read_input(file)
    qa = load(settings.index_dir, settings)
    report = qa.check(text)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        for s in report.sentences:
            mark = "supported  " if s.supported else "UNSUPPORTED"
            print(f"{mark}  {' '.join(s.text.split())}")
            c = s.citation
            if c is not None:
                label = "source" if s.supported else "closest"
                where = c.title + (f" ({c.outlet})" if c.outlet else "")
                print(f"    {label}: {where} — {c.doc_id}:{c.start}-{c.end}")
                print(f"    “{' '.join(c.quote.split())}”")
            if not s.supported:
                print(f"    why: {s.reason}")
        n = len(report.sentences)
        print(f"\n{report.n_supported} of {n} sentence{'s' if n != 1 else ''} supported.")
    return 0 if report.n_supported == len(report.sentences) else 1


def _docs(settings: Settings) -> int:
    from .store import Store

    store = Store.open(settings.index_dir)
    docs = store.documents()
    for d in docs:
        extra = ", ".join(x for x in (d.outlet, d.author, d.date) if x)
        about = f" ({extra})" if extra else ""
        print(f"{d.doc_id}\t{d.title}{about}\t{d.n_chunks} chunks")
    print(f"{len(docs)} documents, {store.chunk_count()} chunks "
          f"(model {store.manifest.get('embedding_model')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
