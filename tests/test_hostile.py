"""Hostile input end to end (issue 11): a corpus of every bad file we know of
(``bench.fuzz.hostile_corpus``) builds through the API and the ``rag`` command, each bad file
skipped with one line, the good ones indexed; fuzzed questions (``bench.fuzz``) against its
index raise nothing but ``RagError``, with the real model and through ``rag chat``.

The full run, 10,000 questions with the real model, is ``python -m bench.fuzz``; here a seeded
sample (``FUZZ_SAMPLE``) keeps the model tests to a minute or two.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import rag
from bench.fuzz import (
    HostileCorpus,
    chat_line,
    corpus_words,
    fuzz_api,
    fuzz_cli,
    fuzz_questions,
    hostile_corpus,
)
from rag.store import Store, current_generation

RAG = Path(sys.executable).with_name("rag")
FUZZ_SAMPLE = 1000  # real-model questions in CI: ~35 s here (10,000 take 3-20 min)
HUGE_LINE = 100_000  # characters of the one-line file (the bench uses 1,000,000)


def check_build(hc: HostileCorpus, stats: rag.BuildStats, index: Path) -> None:
    """Every bad file skipped once with its reason in one line, every good file indexed, and
    every stored passage an exact, encodable slice of its document."""
    names = [name for name, _ in stats.skipped]
    assert sorted(names) == sorted(hc.bad), "one skip per bad file, no other"
    for name, reason in stats.skipped:
        assert hc.bad[name] in reason, (name, reason)
        assert "\n" not in reason and not reason.startswith(name)
    store = Store.open(index)
    assert sorted(d.doc_id for d in store.documents()) == sorted(hc.good)
    rows = store.conn.execute("SELECT id, doc_id FROM chunks").fetchall()
    passages = store.passages([r[0] for r in rows])
    for p in passages.values():
        text = store.document_text(p.doc_id)
        text.encode("utf-8")
        assert p.text == text[p.start : p.end] and p.text.strip()  # substr() stopped at a NUL
    assert store.faiss_index.ntotal == len(rows)


def test_the_hostile_corpus_builds_through_the_api(tmp_path: Path) -> None:
    hc = hostile_corpus(tmp_path / "corpus", huge_line_chars=HUGE_LINE)
    index = tmp_path / "index"
    stats = rag.build_index(hc.root, index, embedding_model="hash")
    check_build(hc, stats, index)
    assert stats.documents == len(hc.good)
    gen = current_generation(index)
    again = rag.build_index(hc.root, index, embedding_model="hash")
    assert again.skipped == stats.skipped and not again.changed
    assert current_generation(index) == gen  # the skipped files did not make it write


def test_the_hostile_corpus_builds_through_the_cli(tmp_path: Path) -> None:
    hc = hostile_corpus(tmp_path / "corpus", huge_line_chars=HUGE_LINE)
    out = subprocess.run(
        [str(RAG), "index", str(hc.root), "--index", str(tmp_path / "index"), "--model", "hash"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"},
    )
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    assert f"{len(hc.good)} documents" in out.stdout
    lines = out.stderr.splitlines()
    skipped = [line.removeprefix("skipped ").split(": ", 1) for line in lines
               if line.startswith("skipped ")]
    assert sorted(name for name, _ in skipped) == sorted(hc.bad)  # one line each
    for name, reason in skipped:
        assert hc.bad[name] in reason, (name, reason)
    # Besides them, only a warning about a good file read with replacement characters.
    others = [line for line in lines if not line.startswith("skipped ")]
    assert others == ["warning: broken-utf8.txt: 4 bytes that are not UTF-8 replaced with "
                      "U+FFFD; re-save it as UTF-8"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 file anyway")
def test_an_unreadable_file_in_the_hostile_corpus_is_skipped(tmp_path: Path) -> None:
    hc = hostile_corpus(tmp_path / "corpus", huge_line_chars=1000)
    assert "unreadable.txt" in hc.bad
    stats = rag.build_index(hc.root, tmp_path / "index", embedding_model="hash")
    assert dict(stats.skipped)["unreadable.txt"].startswith("cannot read the file")


def test_fuzzed_questions_with_the_hash_embedder(tmp_path: Path) -> None:
    hc = hostile_corpus(tmp_path / "corpus", huge_line_chars=HUGE_LINE)
    rag.build_index(hc.root, tmp_path / "index", embedding_model="hash")
    qa = rag.load(tmp_path / "index", embedding_model="hash")
    vocab = corpus_words([qa.document_text(d.doc_id) for d in qa.documents()])
    report = fuzz_api(qa, list(fuzz_questions(300, 1, vocab)), seed=1)
    assert report.failures == []
    assert report.answered > 200 and set(report.expected_errors) == {"empty", "too long"}


def test_the_question_generator_covers_every_kind() -> None:
    qs = list(fuzz_questions(2000, 0, ["moscow", "assad", "talks"]))
    joined = "".join(qs)
    assert any("\ud800" <= c <= "\udfff" for c in joined)  # lone surrogates
    assert any(ord(c) < 32 for c in joined) and "\u202e" in joined and "😀" in joined
    assert all(s in joined for s in ('"', "*", "NEAR(", " OR ", "^", ":", "(a+)+$", "9" * 400))
    assert {1999, 2000, 2001} <= {len(q) for q in qs}
    assert any(not q.strip() for q in qs) and any(q.count("assad") > 50 for q in qs)
    assert chat_line("exit") is None and chat_line("a\nb") is None
    assert chat_line("a\ud800?") == b"a\xed\xa0\x80?\n"  # the invalid bytes a client sends


def test_a_lone_surrogate_in_the_history_never_reaches_the_condensed_question() -> None:
    from rag.followup import as_turns, condense

    history = [("Why won't \ud800Russia drop Assad?", "Because \udfff."), "\udc80 Iran"]
    assert as_turns(history) == [("Why won't \ufffdRussia drop Assad?", "Because \ufffd."),
                                 ("\ufffd Iran", "")]
    condense(history[:1], "What about Iran?").encode("utf-8")  # UnicodeEncodeError before


# -- the real model -----------------------------------------------------------------------
@pytest.mark.model
def test_a_follow_up_with_a_lone_surrogate_in_the_history_is_answered(model_qa) -> None:  # noqa: ANN001
    """Found by the fuzz: the tokenizer's TypeError for a surrogate in the history."""
    ans = model_qa.ask("What about the air base?",
                       history=[("Why did the \ud800US strike Syria?", "\udfff")])
    assert ans.standalone_question is not None and "\ufffd" in ans.standalone_question
    assert ans.text


@pytest.fixture(scope="module")
def hostile_model_index(tmp_path_factory: pytest.TempPathFactory) -> tuple[HostileCorpus, Path]:
    root = tmp_path_factory.mktemp("hostile")
    hc = hostile_corpus(root / "corpus", huge_line_chars=HUGE_LINE)
    index = root / "index"
    stats = rag.build_index(hc.root, index)
    check_build(hc, stats, index)
    return hc, index


@pytest.fixture(scope="module")
def fuzz_sample(hostile_model_index: tuple[HostileCorpus, Path]) -> list[str]:
    qa = rag.load(hostile_model_index[1])
    vocab = corpus_words([qa.document_text(d.doc_id) for d in qa.documents()])
    return list(fuzz_questions(FUZZ_SAMPLE, 2024, vocab))


@pytest.mark.model
def test_fuzzed_questions_with_the_real_model(
    hostile_model_index: tuple[HostileCorpus, Path], fuzz_sample: list[str]
) -> None:
    """RagError for an empty or too long question; nothing else, and every citation an exact
    quote. (A lone surrogate in the conversation history reached the tokenizer: TypeError.)"""
    qa = rag.load(hostile_model_index[1])
    report = fuzz_api(qa, fuzz_sample, seed=2024)
    assert report.failures == []
    assert report.answered > FUZZ_SAMPLE // 2
    assert set(report.expected_errors) == {"empty", "too long"}


@pytest.mark.model
def test_fuzzed_questions_through_rag_chat(
    hostile_model_index: tuple[HostileCorpus, Path], fuzz_sample: list[str]
) -> None:
    """A few hundred questions piped into one ``rag chat --json``: one JSON answer or one
    error line each, never a traceback, the chat never ends early."""
    result = fuzz_cli(hostile_model_index[1], fuzz_sample[:250], "all-MiniLM-L6-v2", RAG)
    assert result["returncode"] == 0 and not result["traceback"], result
    assert result["answers"] + result["error_lines"] == result["lines"] > 200
    assert all(line.startswith("rag: ") for line in result["other_stderr"]), result


def test_rag_chat_survives_a_non_utf8_byte_under_a_strict_locale(hash_index: Path) -> None:
    """Under a UTF-8 locale other than C.UTF-8 (en_US.UTF-8 on a desktop) Python decodes
    stdin strictly: one byte that is not UTF-8 ended ``rag chat`` with a traceback."""
    out = subprocess.run(
        [str(RAG), "chat", "--json", "--index", str(hash_index), "--model", "hash"],
        input=b"Why won\xff Russia drop Assad?\nWho is Ania Viver?\n", capture_output=True,
        timeout=300, env={**os.environ, "PYTHONIOENCODING": "utf-8:strict"},
    )
    assert b"Traceback" not in out.stderr and out.stdout.count(b"\n") == 2
