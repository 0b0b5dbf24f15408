"""The ``rag`` command as a user runs it: real subprocesses, one-line errors, exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT


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
