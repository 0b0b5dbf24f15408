"""``QA.check`` and ``rag check``: any text checked sentence by sentence against the corpus
(real FAISS and SQLite, hash-embedder retrieval, the real trained checker)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import rag
import rag.check
from rag.check import MAX_CHECK_CHARS
from rag.errors import RagError

ROOT = Path(__file__).resolve().parent.parent
VERBATIM = ("The United States issued advance notice to Russia to avoid hitting its personnel "
            "before unleashing a volley of 59 Tomahawk cruise missiles from US warships in the "
            "Mediterranean.")
PARAPHRASE = ("Before launching 59 Tomahawk missiles from its warships in the Mediterranean, "
              "the US gave Russia advance notice.")
ALTERED = "The United States fired 95 Tomahawk cruise missiles from warships in the Black Sea."
INVENTED = "The Eiffel Tower was moved to Berlin in 2015."


@pytest.fixture(scope="module")
def qa(hash_index: Path) -> rag.QA:
    return rag.load(hash_index, embedding_model="hash")


def test_docstring_examples() -> None:
    import doctest

    result = doctest.testmod(rag.check)
    assert result.attempted > 0 and result.failed == 0


def test_each_sentence_gets_a_verdict_and_an_exact_source(qa: rag.QA) -> None:
    text = f"{VERBATIM} {PARAPHRASE}\n{ALTERED} {INVENTED}"
    report = qa.check(text)
    verdicts = [(s.text, s.supported) for s in report.sentences]
    assert verdicts == [(VERBATIM, True), (PARAPHRASE, True), (ALTERED, False),
                        (INVENTED, False)]
    for s in report.sentences:
        assert text[s.start : s.end] == s.text
        assert 0.0 <= s.score <= 1.0 and s.reason
    for s in report.sentences[:3]:  # supported ones and the near miss have a real source
        c = s.citation
        assert c is not None and c.doc_id == "russia-assad-ap.md"
        assert qa.document_text(c.doc_id)[c.start : c.end] == c.quote
    assert "Tomahawk" in report.sentences[0].citation.quote
    assert report.n_supported == 2
    d = report.to_dict()
    assert d["supported"] == 2 and d["unsupported"] == 2
    assert d["sentences"][2]["citation"]["quote"] and not d["sentences"][2]["supported"]
    json.dumps(d)


def test_bad_text_is_refused_with_a_clear_error(qa: rag.QA) -> None:
    with pytest.raises(RagError, match="empty"):
        qa.check("   ")
    with pytest.raises(RagError, match="at most"):
        qa.check("x. " * (MAX_CHECK_CHARS // 3 + 10))
    assert qa.check("-- 12 --").sentences == []  # nothing with letters to check


def _rag(*args: str, stdin: str | None = None, index: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAG_INDEX": str(index), "RAG_EMBEDDING_MODEL": "hash",
           "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], input=stdin, text=True,
                          capture_output=True, env=env, cwd=ROOT, timeout=300)


def test_cli_check_stdin_and_file(hash_index: Path, tmp_path: Path) -> None:
    out = _rag("check", "-", stdin=f"{VERBATIM} {INVENTED}", index=hash_index)
    assert out.returncode == 1, out.stderr  # one sentence is unsupported
    lines = out.stdout.splitlines()
    assert lines[0].startswith("supported") and "Tomahawk" in lines[0]
    assert any(line.startswith("UNSUPPORTED") and "Eiffel" in line for line in lines)
    assert "1 of 2 sentences supported." in out.stdout
    f = tmp_path / "draft.txt"
    f.write_text(VERBATIM, encoding="utf-8")
    out = _rag("check", str(f), "--json", index=hash_index)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["supported"] == 1 and data["sentences"][0]["citation"]["doc_id"].endswith(".md")


def test_cli_check_bad_input_is_one_line(hash_index: Path, tmp_path: Path) -> None:
    out = _rag("check", str(tmp_path / "missing.txt"), index=hash_index)
    assert out.returncode == 2 and "no such file" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    out = _rag("check", "-", stdin="  ", index=hash_index)
    assert out.returncode == 2 and "empty" in out.stderr
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9 ol\xe9".encode("latin-1"))
    out = _rag("check", str(bad), index=hash_index)
    assert out.returncode == 2 and "UTF-8" in out.stderr
