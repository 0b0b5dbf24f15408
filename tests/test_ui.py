"""UI tests: the real app in a subprocess, driven through its API with ``gradio_client``.

Covers the demo question (cited), an off-topic question (abstains), a follow-up with the
conversation as ``history`` (pairs or chat messages, on ``/ask`` and ``/ask_stream``), upload
-> cited -> delete -> no longer cited, rejected uploads (binary, wrong type, existing name)
leaving the library unchanged, the streaming endpoint's timings, ``/check`` (a verbatim corpus
sentence supported with an exact quote, an invented one not; empty and over-long text
refused), and that the library service imports no web framework.
Browser rendering is in ``test_browser.py``; the follow-up rules in ``test_followup.py``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest_ui import running_app

from rag.ingest import load_document

DEMO = "Why won't Russia drop Assad?"
NEW_DOC = "zorblat-festival.md"
NEW_TEXT = """---
title: The Zorblat cheese festival
outlet: Wumpington Gazette
---
The Zorblat cheese festival takes place every April in the village of Lower Wumpington.
Its organisers say the festival drew eleven thousand visitors last year.
The main event is a race in which teams roll giant wheels of Zorblat cheese down Pudding Hill.
"""
NEW_Q = "When does the Zorblat cheese festival take place?"
VERBATIM = ("It would deprive Moscow of its only ally in the Middle East that hosts Russian air "
            "force and naval assets.")  # copied from corpus/russia-assad-ap.md
INVENTED = "The Eiffel Tower was moved to Berlin in 2015."
KOSACHEV = "What did Konstantin Kosachev say about the hotline?"
PENTAGON = "What did the Pentagon say about it?"


# -- the running app ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    with running_app(tmp_path_factory.mktemp("ui")) as (url, corpus):
        from gradio_client import Client

        yield Client(url, verbose=False), corpus


def _doc_ids(client) -> list[str]:
    return [d["doc_id"] for d in client.predict(api_name="/documents")]


@pytest.mark.ui
@pytest.mark.model
def test_demo_question_is_answered_with_citations(app) -> None:
    client, _ = app
    r = client.predict(DEMO, api_name="/ask")
    assert set(r) >= {"answer", "citations", "passages", "abstained"}
    assert not r["abstained"]
    assert "[1]" in r["answer"] and r["citations"]
    for c in r["citations"]:
        assert set(c) >= {"n", "doc_id", "title", "quote", "start", "end"}
        assert f"[{c['n']}]" in r["answer"]
    quotes = " ".join(c["quote"] for c in r["citations"])
    assert "naval assets" in quotes or "loser" in quotes


@pytest.mark.ui
@pytest.mark.model
def test_off_topic_question_abstains(app) -> None:
    client, _ = app
    r = client.predict("What is the capital of Australia?", api_name="/ask")
    assert r["abstained"]
    assert not r["citations"]
    assert "don't answer" in r["answer"]


@pytest.mark.ui
@pytest.mark.model
def test_ask_takes_the_conversation(app) -> None:
    """A follow-up sent with the history is searched as a standalone question and finds
    what it asks for; /ask_stream takes the same history, as chat messages too."""
    client, _ = app
    first = client.predict(KOSACHEV, api_name="/ask")
    assert first["standalone_question"] == KOSACHEV
    r = client.predict(PENTAGON, [[KOSACHEV, first["answer"]]], api_name="/ask")
    assert r["question"] == PENTAGON
    assert r["standalone_question"] == "What did the Pentagon say about it (hotline)?"
    assert "The Pentagon has insisted" in r["passages"][0]["text"]
    messages = [{"role": "user", "content": KOSACHEV},
                {"role": "assistant", "content": first["answer"]}]
    job = client.submit(PENTAGON, messages, api_name="/ask_stream")
    list(job)
    final = job.outputs()[-1]
    assert final["standalone_question"] == r["standalone_question"]
    assert final["answer"] == r["answer"]
    alone = client.predict(PENTAGON, api_name="/ask")  # no history: searched as asked
    assert alone["standalone_question"] == PENTAGON


@pytest.mark.ui
@pytest.mark.model
def test_streaming_endpoint_timings(app) -> None:
    client, _ = app
    t0 = time.perf_counter()
    job = client.submit(DEMO, api_name="/ask_stream")
    first = None
    snapshots = []
    for snap in job:
        first = first if first is not None else time.perf_counter() - t0
        snapshots.append(snap)
    total = time.perf_counter() - t0
    final = job.outputs()[-1]
    assert final["citations"] and not final["abstained"]
    assert len(job.outputs()) >= 2  # growing snapshots, not one final blob
    print(f"\n/ask_stream: first snapshot {first:.3f} s, full answer {total:.3f} s, "
          f"{len(job.outputs())} snapshots")


@pytest.mark.ui
@pytest.mark.model
def test_check_endpoint_returns_sentences_with_exact_quotes(app) -> None:
    client, corpus = app
    text = f"{VERBATIM}  {INVENTED}\n"
    r = client.predict(text, api_name="/check")
    assert set(r) == {"text", "sentences", "supported", "unsupported"}
    assert r["text"] == text
    assert [s["sentence"] for s in r["sentences"]] == [VERBATIM, INVENTED]
    assert r["supported"] + r["unsupported"] == 2
    assert r["supported"] == sum(s["supported"] for s in r["sentences"])
    for s in r["sentences"]:
        assert set(s) == {"sentence", "start", "end", "supported", "score", "reason", "citation"}
        assert text[s["start"]:s["end"]] == s["sentence"]
        assert isinstance(s["supported"], bool)
        assert 0.0 <= s["score"] <= 1.0 and s["reason"]
        c = s["citation"]  # the supporting passage, or the closest one
        assert set(c) >= {"doc_id", "title", "outlet", "quote", "start", "end", "chunk_id"}
        doc = load_document(corpus / c["doc_id"], corpus)  # the text the index holds
        assert c["quote"].strip() and doc.text[c["start"]:c["end"]] == c["quote"]


@pytest.mark.ui
@pytest.mark.model
def test_check_endpoint_verdicts(app) -> None:
    """A sentence copied from an article is supported; an invented one is not."""
    client, corpus = app
    r = client.predict(f"{VERBATIM} {INVENTED}", api_name="/check")
    verbatim, invented = r["sentences"]
    assert verbatim["supported"], verbatim
    assert verbatim["citation"]["quote"] in load_document(
        corpus / verbatim["citation"]["doc_id"], corpus
    ).text
    assert not invented["supported"], invented
    assert (r["supported"], r["unsupported"]) == (1, 1)


@pytest.mark.ui
@pytest.mark.model
@pytest.mark.parametrize(
    ("text", "message"),
    [("", "empty"), ("   \n ", "empty"), ("Assad stays. " * 1700, "at most 20,000")],
)
def test_check_endpoint_refuses_bad_text(app, text: str, message: str) -> None:
    client, _ = app
    with pytest.raises(Exception, match=message):
        client.predict(text, api_name="/check")


@pytest.mark.ui
@pytest.mark.model
def test_upload_ask_delete(app, tmp_path: Path) -> None:
    from gradio_client import handle_file

    client, corpus = app
    before = _doc_ids(client)
    path = tmp_path / NEW_DOC
    path.write_text(NEW_TEXT)
    status, _, _ = client.predict([handle_file(str(path))], False, api_name="/upload")
    assert "Added" in status and NEW_DOC in status
    assert (corpus / NEW_DOC).is_file()
    assert _doc_ids(client) == sorted(before + [NEW_DOC])

    r = client.predict(NEW_Q, api_name="/ask")
    assert not r["abstained"]
    assert any(c["doc_id"] == NEW_DOC and "April" in c["quote"] for c in r["citations"])

    # the same name again, without "replace": refused, nothing changes
    with pytest.raises(Exception, match="already in the library"):
        client.predict([handle_file(str(path))], False, api_name="/upload")

    status, _, _ = client.predict(NEW_DOC, api_name="/delete")
    assert "Deleted" in status
    assert not (corpus / NEW_DOC).exists()
    assert _doc_ids(client) == before
    r = client.predict(NEW_Q, api_name="/ask")
    assert all(c["doc_id"] != NEW_DOC for c in r["citations"])


@pytest.mark.ui
@pytest.mark.model
@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("binary.txt", b"\x00\x01\x02ELF\x00" * 100, "binary"),
        ("tool.exe", b"MZ\x90\x00" * 100, "unsupported|[Ii]nvalid file type"),
        ("empty.md", b"   \n\n", "no text"),
    ],
)
def test_bad_upload_is_rejected(app, tmp_path: Path, name: str, data: bytes, message: str) -> None:
    from gradio_client import handle_file

    client, corpus = app
    before = _doc_ids(client)
    files_before = sorted(p.name for p in corpus.iterdir())
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(Exception, match=message):
        client.predict([handle_file(str(path))], False, api_name="/upload")
    assert _doc_ids(client) == before
    assert sorted(p.name for p in corpus.iterdir()) == files_before


def test_render_check_escapes_numbers_and_links() -> None:
    from rag.check import CheckedSentence, CheckReport
    from rag.types import Citation
    from rag.ui import render_check

    text = "Intro <b>bold</b>. Second & last."
    cite = Citation(0, "a.md", "T <i>", "a <quote>", 3, 12, "c1", "Out")
    report = CheckReport(text, [
        CheckedSentence("Intro <b>bold</b>.", 0, 18, True, 0.9, "ok", cite),
        CheckedSentence("Second & last.", 19, 33, False, 0.1, "no <match>", cite),
    ])
    html = render_check(report)
    assert "<b>bold" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "<i>" not in html and "a &lt;quote&gt;" in html and "no &lt;match&gt;" in html
    assert "<b>1 of 2</b> sentences supported" in html
    assert 'class="chk-s ok" id="chk-s-1" href="#chk-1" data-n="1"' in html
    assert 'class="chk-s bad" id="chk-s-2" href="#chk-2" data-n="2"' in html
    assert 'id="chk-1" data-n="1"' in html and 'id="chk-2" data-n="2"' in html
    assert "Closest passage" in html
    error = render_check(error="bad <input>")
    assert "chk-error" in error and "bad &lt;input&gt;" in error


def test_library_service_imports_no_web_framework() -> None:
    import subprocess
    import sys

    from conftest_ui import ROOT

    probe = subprocess.run(
        [sys.executable, "-c", "import sys, rag.library, rag.cli; "
         "print([m for m in ('gradio', 'rag.ui') if m in sys.modules])"],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "[]"


def test_sanitize_filename() -> None:
    from rag.errors import RagError
    from rag.ui import sanitize_filename

    assert sanitize_filename("../../etc/passwd.txt") == "passwd.txt"
    assert sanitize_filename("C:\\Users\\x\\My Article (1).MD") == "My-Article-1.md"
    assert sanitize_filename(".hidden.txt") == "hidden.txt"
    for bad in ("run.exe", "noext", "../..", "....pdf"):
        with pytest.raises(RagError):
            sanitize_filename(bad)


def test_openai_generator_through_the_ui_is_verified(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """RAG_GENERATOR=openai with an OpenAI-compatible server: the UI's /ask returns only
    verified sentences, the invented one dropped, citations exact."""
    from fake_openai_server import FakeOpenAIServer
    from gradio_client import Client

    draft = (
        "It would deprive Moscow of its only ally in the Middle East that hosts Russian air "
        "force and naval assets [1]. Putin promised to send 5,000 more troops to Aleppo [1]."
    )
    with FakeOpenAIServer(draft) as server:
        env = {"RAG_GENERATOR": "openai", "OPENAI_BASE_URL": server.url,
               "OPENAI_API_KEY": "test", "RAG_MODEL": "scripted"}
        with running_app(tmp_path_factory.mktemp("ui-openai"), env) as (url, _):
            result = Client(url, verbose=False).predict(
                "Why won't Russia drop Assad?", api_name="/ask"
            )
        assert server.requests, "the app never called the model server"
    assert "naval assets" in result["answer"]
    assert "Aleppo" not in result["answer"]
    assert any("Aleppo" in d["sentence"] for d in result["dropped"])
    assert result["citations"] and not result["abstained"]
