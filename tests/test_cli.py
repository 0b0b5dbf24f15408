"""The ``rag`` command as a user runs it: real subprocesses, one-line errors, exit codes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import CORPUS, ROOT


def run(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT,  # noqa: ANN201
        stdin: str | None = None):
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True, cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, timeout=300, input=stdin,
    )


def test_help_is_instant_and_imports_nothing_heavy() -> None:
    t = time.perf_counter()
    out = run("--help")
    assert out.returncode == 0 and "ask" in out.stdout and "index" in out.stdout
    assert "chat" in out.stdout
    assert time.perf_counter() - t < 5
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, rag, rag.cli; rag.cli._parser(); heavy = "
         "('torch', 'sentence_transformers', 'gradio', 'faiss'); "
         "print([m for m in heavy if m in sys.modules])"],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert probe.stdout.strip() == "[]"


def test_index_ask_and_docs(corpus: Path, tmp_path: Path) -> None:
    (corpus / "junk.txt").write_bytes(b"\x00\x00\x00")
    env = {"RAG_EMBEDDING_MODEL": "hash"}
    index = str(tmp_path / "index")
    out = run("index", str(corpus), "--index", index, env=env)
    assert out.returncode == 0, out.stderr
    assert "2 added" in out.stdout
    assert "skipped junk.txt" in out.stderr and "binary" in out.stderr
    out = run("ask", "How many Tomahawk missiles were launched?", "--index", index, env=env)
    assert out.returncode == 0, out.stderr
    assert "59 Tomahawk" in out.stdout and "[1]" in out.stdout and "Sources:" in out.stdout
    out = run("docs", "--index", index, env=env)
    assert "russia-assad-ap.md" in out.stdout and "Ania Viver" in out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("index", "no-such-dir"), "does not exist"),
        (("ask", "", "--index", "{index}"), "question is empty"),
        (("ask", "hello?", "--index", "{tmp}/none"), "no index at"),
        (("ask", "hello?", "--index", "{index}", "--model", "all-MiniLM-L6-v2"), "rebuild"),
        (("index", "{tmp}/empty", "--index", "{tmp}/i2"), "holds no"),
        (("ask", "hi", "-k", "0", "--index", "{index}"), "top_k must be > 0, got 0"),
    ],
)
def test_bad_input_gives_one_line_error(
    hash_index: Path, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    (tmp_path / "empty").mkdir()
    argv = [a.format(index=hash_index, tmp=tmp_path) for a in args]
    out = run(*argv, env={"RAG_EMBEDDING_MODEL": "hash"}, cwd=tmp_path)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_ask_with_an_openai_compatible_server(hash_index: Path) -> None:
    """RAG_GENERATOR=openai end to end: the invented sentence never reaches the terminal."""
    from fake_openai_server import FakeOpenAIServer

    draft = (
        "The United States fired 59 Tomahawk cruise missiles from US warships in the "
        "Mediterranean [1]. The strike killed forty Russian advisers at the base [2]."
    )
    with FakeOpenAIServer(draft) as server:
        out = run(
            "ask", "How many Tomahawk missiles were launched?", "--index", str(hash_index),
            env={"RAG_EMBEDDING_MODEL": "hash", "RAG_GENERATOR": "openai",
                 "OPENAI_BASE_URL": server.url, "OPENAI_API_KEY": "test", "RAG_MODEL": "m"},
        )
        assert server.requests and server.requests[0]["model"] == "m"
    assert out.returncode == 0, out.stderr
    assert "59 Tomahawk" in out.stdout and "[1]" in out.stdout
    assert "forty Russian advisers" not in out.stdout


def test_unreachable_model_server_is_one_line(hash_index: Path) -> None:
    out = run("ask", "Tomahawk?", "--index", str(hash_index), "--generator", "openai",
              "--base-url", "http://127.0.0.1:9/v1",
              env={"RAG_EMBEDDING_MODEL": "hash", "OPENAI_API_KEY": "x"})
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "is the server running" in out.stderr


def test_chat_reads_questions_and_keeps_the_conversation(hash_index: Path) -> None:
    """Questions piped into ``rag chat``: each answered with its sources, follow-ups searched
    with the conversation, a bad question reported without ending the chat, ``exit`` ends it."""
    questions = [
        "How many Tomahawk missiles were launched?",
        "And how did Moscow respond to that?",
        "",
        "x" * 2500,
        "What did Konstantin Kosachev say about the hotline?",
        "What did the Pentagon say about it?",
        "exit",
        "Why won't Russia drop Assad?",  # after exit: never asked
    ]
    out = run("chat", "--index", str(hash_index), stdin="\n".join(questions) + "\n",
              env={"RAG_EMBEDDING_MODEL": "hash"})
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    assert "rag: error: the question is 2500 characters long" in out.stderr
    assert "59 Tomahawk" in out.stdout and "Sources:" in out.stdout
    assert "(searched as: How did Moscow respond to that (Tomahawk missiles)?)" in out.stdout
    assert "(searched as: What did the Pentagon say about it (hotline)?)" in out.stdout
    answers = out.stdout.count("Sources:") + out.stdout.count("Closest passages:")
    assert answers == 4  # the four real questions; nothing after "exit"


def test_chat_json_and_end_of_input(hash_index: Path) -> None:
    import json

    first = "What did Konstantin Kosachev say about the hotline?"
    out = run("chat", "--index", str(hash_index), "--json",
              stdin=f"{first}\nWhat did the Pentagon say about it?",  # no newline, no exit
              env={"RAG_EMBEDDING_MODEL": "hash"})
    assert out.returncode == 0, out.stderr
    answers = [json.loads(line) for line in out.stdout.splitlines()]
    assert [a["question"] for a in answers] == [first, "What did the Pentagon say about it?"]
    assert answers[1]["standalone_question"] == "What did the Pentagon say about it (hotline)?"


def test_chat_ends_cleanly_on_ctrl_c(hash_index: Path) -> None:
    import signal

    proc = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "chat", "--index", str(hash_index)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "RAG_EMBEDDING_MODEL": "hash"},
    )
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("How many Tomahawk missiles were launched?\n")
        proc.stdin.flush()
        lines = []
        while not any(line.startswith("Sources:") for line in lines):
            line = proc.stdout.readline()
            assert line, "the chat ended before answering"
            lines.append(line)
        proc.send_signal(signal.SIGINT)  # waiting for the next question
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err


# --------------------------------------------------------------------------------------
# rag serve / rag eval: real options, shared with app.py and python -m evals
# --------------------------------------------------------------------------------------
def _options(parser) -> set[str]:  # noqa: ANN001 - argparse.ArgumentParser
    return {s for a in parser._actions for s in a.option_strings}


def test_serve_and_eval_take_the_options_of_app_and_evals() -> None:
    """`rag serve --port 8000` and `rag eval --out report.json` (the README's lines) parse,
    and the help of each lists exactly the options of app.py / python -m evals."""
    import argparse

    from evals.__main__ import _parser as evals_parser
    from rag.cli import _parser
    from rag.ui import _parser as app_parser

    top = _parser()
    args = top.parse_args(["serve", "--port", "8000"])
    assert (args.command, args.port) == ("serve", 8000)
    args = top.parse_args(["eval", "--out", "report.json"])
    assert (args.command, args.out) == ("eval", Path("report.json"))
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    assert _options(sub.choices["serve"]) == _options(app_parser())
    assert {"--host", "--port", "--corpus", "--index", "--model"} <= _options(app_parser())
    assert _options(sub.choices["eval"]) == _options(evals_parser())
    out = run("serve", "--help")
    assert out.returncode == 0 and "--host" in out.stdout and "--port" in out.stdout
    out = run("eval", "--help")
    assert out.returncode == 0 and "--out" in out.stdout and "--no-news" in out.stdout


def test_serve_and_eval_hand_their_arguments_over(tmp_path: Path) -> None:
    """The options reach the app and the eval runner (each reports its own bad input)."""
    out = run("eval", "--cases", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "r.json"))
    assert out.returncode == 2 and "none.jsonl" in out.stderr, out.stderr
    assert not (tmp_path / "r.json").exists()
    out = run("serve", "--corpus", str(tmp_path / "nothing"), "--index", str(tmp_path / "ix"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"corpus directory {tmp_path / 'nothing'} does not exist" in out.stderr
    out = run("serve", "--port", "x")
    assert out.returncode == 2 and "argument --port: invalid int value: 'x'" in out.stderr
    import socket

    with socket.socket() as taken:  # a port in use: said at once, before the model loads
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = run("serve", "--port", str(port))
        app = subprocess.run([sys.executable, "app.py", "--port", str(port)], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.startswith(f"rag: error: cannot serve on 127.0.0.1:{port}: "), out.stderr
    assert "Address already in use" in out.stderr and "loading" not in out.stderr
    # python app.py says the same, before loading anything (it used to end in a traceback)
    assert app.returncode == 2 and "Traceback" not in app.stderr, app.stderr
    assert f"rag: error: cannot serve on 127.0.0.1:{port}: " in app.stderr
    assert "loading the index" not in app.stderr
    out = run("serve", env={"GRADIO_SERVER_PORT": "http"})
    assert out.returncode == 2 and "port 'http' is not a port number" in out.stderr


# --------------------------------------------------------------------------------------
# User errors (RagError: one line, exit 2) and bugs (a traceback)
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("env", "args", "message"),
    [
        ({"RAG_TOP_K": "0"}, ("ask", "hi"), "RAG_TOP_K='0': top_k must be > 0, got 0"),
        ({"RAG_TOP_K": "abc"}, ("ask", "hi"), "RAG_TOP_K must be a whole number, got 'abc'"),
        ({"RAG_GENERATOR": "gpt"}, ("ask", "hi"), "RAG_GENERATOR='gpt': generator must be one"),
        ({"RAG_CHUNK_SIZE": "10"}, ("index", "{corpus}"), "chunk_size must be >= 200"),
        ({"RAG_EMBED_BATCH_SIZE": "-1"}, ("docs",), "RAG_EMBED_BATCH_SIZE='-1'"),
        ({"RAG_EMBEDDING_MODEL": "hash-x"}, ("docs",), "hash-N needs a dimension"),
        ({}, ("index", "{corpus}", "--batch-size", "0"), "embed_batch_size must be > 0"),
        ({}, ("index", "{corpus}", "--index", "{corpus}/russia-assad-ap.md"), "is a file"),
        ({}, ("ask", "hi", "--model", "hash-0"), "hash-N needs a dimension N >= 1"),
        ({}, ("check", "{tmp}/missing.txt"), "missing.txt: no such file"),
        ({}, ("check", "{tmp}"), "is a directory; pass a text file"),
        ({}, ("check", "{tmp}/latin1.txt"), "latin1.txt is not UTF-8 text"),
        ({}, ("check", "{tmp}/empty.txt"), "the text to check is empty"),
    ],
)
def test_bad_settings_and_files_give_one_line_error(
    hash_index: Path, tmp_path: Path, env: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    (tmp_path / "latin1.txt").write_bytes("Moscou a opposé son veto.".encode("latin-1"))
    (tmp_path / "empty.txt").write_text("")
    argv = [a.format(corpus=CORPUS, tmp=tmp_path) for a in args]
    if "--index" not in argv:
        argv += ["--index", str(hash_index)]
    out = run(*argv, env={"RAG_EMBEDDING_MODEL": "hash", **env}, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_text_on_standard_input_that_is_not_utf8_is_one_line(hash_index: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "rag.cli", "check", "-", "--index", str(hash_index)],
        input="Moscou a opposé son veto.".encode("latin-1"), capture_output=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "RAG_EMBEDDING_MODEL": "hash"}, timeout=300,
    )
    err = out.stderr.decode()
    assert out.returncode == 2 and "Traceback" not in err
    assert err.strip() == "rag: error: standard input is not UTF-8 text; convert it " \
                          "(e.g. iconv -t utf-8)"


def test_a_bug_keeps_its_traceback(hash_index: Path) -> None:
    """A ValueError from inside the library is a bug, not a user error: no one-line message
    and exit 2 hiding it, but the traceback (exit 1)."""
    code = (
        "import sys, rag.chain\n"
        "def load(*args, **kwargs):\n"
        "    raise ValueError('a bug inside the library')\n"
        "rag.chain.load = load\n"
        "from rag.cli import main\n"
        f"sys.exit(main(['ask', 'hi', '--index', {str(hash_index)!r}]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT),
                              "RAG_EMBEDDING_MODEL": "hash"}, timeout=300)
    assert out.returncode == 1
    assert "Traceback (most recent call last)" in out.stderr
    assert "ValueError: a bug inside the library" in out.stderr
    assert "rag: error" not in out.stderr


def test_settings_errors_are_rag_errors_and_value_errors() -> None:
    from rag.errors import RagError, SettingsError
    from rag.settings import Settings

    with pytest.raises(SettingsError, match=r"RAG_TOP_K='0'.*--top-k, RAG_TOP_K") as info:
        Settings.from_env({"RAG_TOP_K": "0"})
    assert isinstance(info.value, RagError) and isinstance(info.value, ValueError)
    with pytest.raises(SettingsError, match="generator must be one of"):
        Settings().with_(generator="gpt")
    assert Settings.from_env({"RAG_TOP_K": "3", "RAG_GENERATOR": "ranked"}).top_k == 3


# --------------------------------------------------------------------------------------
# What happens while it works: model loading and an honest progress bar
# --------------------------------------------------------------------------------------
def test_embedding_progress_counts_every_batch(corpus: Path, tmp_path: Path) -> None:
    """0 once the embedder is ready, then the running count after each batch."""
    import rag

    calls: list[tuple[str, int, int]] = []
    stats = rag.build_index(corpus, tmp_path / "index", embedding_model="hash", batch_size=4,
                            progress=lambda stage, done, total: calls.append((stage, done, total)))
    embed = [(done, total) for stage, done, total in calls if stage == "embed"]
    n = stats.texts_embedded
    assert n > 8 and n >= stats.embedded  # at least three batches of 4
    assert embed[0] == (0, n) and embed[-1] == (n, n)
    counts = [done for done, _ in embed]
    assert counts == sorted(counts)
    assert sorted(set(counts)) == list(range(0, n, 4)) + [n]


def test_index_progress_bar_moves_per_batch(corpus: Path, tmp_path: Path) -> None:
    out = run("index", str(corpus), "--index", str(tmp_path / "index"), "--batch-size", "4",
              env={"RAG_EMBEDDING_MODEL": "hash"})
    assert out.returncode == 0, out.stderr
    bars = out.stderr.replace("\r", "\n")
    totals = set(re.findall(r"embedding sentences:.*?\| *\d+/(\d+) ", bars))
    assert len(totals) == 1, out.stderr
    n = int(totals.pop())
    chunks = int(out.stdout.split(" chunk vectors made")[0].rsplit(" ", 1)[1])
    assert n > chunks > 0  # every sentence of the chunks, read once
    shown = [int(k) for k in re.findall(rf"embedding sentences:.*?\| *(\d+)/{n} ",
                                        bars)]
    assert shown[0] == 0 and shown[-1] == n
    assert {4, 8} <= set(shown), out.stderr  # batches in between, not 0 then 100 %


def test_index_chunk_vectors_flag_is_recorded(corpus: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    out = run("index", str(corpus), "--index", str(index), "--chunk-vectors", "whole",
              env={"RAG_EMBEDDING_MODEL": "hash"})
    assert out.returncode == 0, out.stderr
    from rag.store import Store

    assert Store.open(index).manifest["chunk_vectors"] == "whole"
    bad = run("index", str(corpus), "--index", str(index), "--chunk-vectors", "max",
              env={"RAG_EMBEDDING_MODEL": "hash"})
    assert bad.returncode == 2 and "invalid choice: 'max'" in bad.stderr


@pytest.mark.model
def test_model_loading_is_announced(corpus: Path, tmp_path: Path) -> None:
    """`rag index` and `rag ask` say on stderr that the model is loading, then how long it
    took; the embedding bar starts after that, and nothing is loaded when nothing changed.
    (A build embeds with the model's ONNX copy on onnxruntime; making that copy, once per
    machine, is announced too: ``tests/test_embed_onnx.py``.)"""
    index = str(tmp_path / "index")
    out = run("index", str(corpus), "--index", index)
    assert out.returncode == 0, out.stderr
    err = out.stderr.replace("\r", "\n")
    loading = err.find("rag: loading the embedding model all-MiniLM-L6-v2 (onnxruntime)")
    loaded = re.findall(r"rag: the embedding model all-MiniLM-L6-v2 loaded in (\d+\.\d) s", err)
    assert loading >= 0 and len(loaded) == 1, err
    assert loading < err.find("embedding sentences:   0%"), err
    out = run("index", str(corpus), "--index", index)
    assert out.returncode == 0 and "loading" not in out.stderr, out.stderr
    out = run("ask", "Why won't Russia drop Assad?", "--index", index)
    assert out.returncode == 0, out.stderr
    assert out.stderr.startswith("rag: loading the embedding model all-MiniLM-L6-v2"), out.stderr
    assert " loaded in " in out.stderr and "loading" not in out.stdout
    assert "Sources:" in out.stdout
