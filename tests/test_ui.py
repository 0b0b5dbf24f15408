"""UI tests: the real app in a subprocess, driven through its API with ``gradio_client``.

Covers the demo question (cited), an off-topic question (abstains), a follow-up with the
conversation as ``history`` (pairs or chat messages, on ``/ask`` and ``/ask_stream``), upload
-> cited -> delete -> no longer cited, rejected uploads (binary, wrong type, existing name)
leaving the library unchanged, the streaming endpoint's timings, ``/check`` (a verbatim corpus
sentence supported with an exact quote, an invented one not; empty and over-long text
refused), that user errors log one line and no traceback, and that the library service
imports no web framework.

Without the app, the rendering (``rag.ui_render``): the quotes of one passage (and of
overlapping passages of one article) grouped into one card with every quote highlighted; far
apart quotes with the middle left out; every answer of a chat keeping its own sources (each
``[n]`` pointing at its own answer's quote); a false-premise correction rendered as an answer
under its own heading with links; an abstention said once; the tooltip giving title, outlet
and the surrounding text but not the quote; the article view marking its spans; the upload
result naming each file. Browser rendering is in ``test_browser.py``; the follow-up rules in
``test_followup.py``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest_ui import running_app

from rag.ingest import load_document
from rag.types import Answer, Citation, Passage

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


@pytest.mark.ui
@pytest.mark.model
def test_user_errors_are_one_log_line_without_traceback(app, tmp_path: Path) -> None:
    """An empty question, an over-long text and a rejected upload: each logs one line
    (``rag.ui: where: why``); the server log holds no traceback (earlier tests' errors
    included)."""
    from gradio_client import handle_file

    client, corpus = app
    bad = tmp_path / "binary.txt"
    bad.write_bytes(b"\x00\x01ELF\x00" * 50)
    with pytest.raises(Exception, match="empty"):
        client.predict("   ", api_name="/ask")
    with pytest.raises(Exception, match="at most 20,000"):
        client.predict("Assad stays. " * 1700, api_name="/check")
    with pytest.raises(Exception, match="binary"):
        client.predict([handle_file(str(bad))], False, api_name="/upload")
    time.sleep(0.5)
    log = (corpus.parent / "app.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]
    lines = log.splitlines()
    assert any(line.startswith("rag.ui: /ask: the question is empty") for line in lines)
    assert any(line.startswith("rag.ui: /check: ") and "20,000" in line for line in lines)
    assert any(line.startswith("rag.ui: /upload: ") and "binary" in line for line in lines)


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


# -- rendering (no app) -----------------------------------------------------------------------
ART = ("Moscow backs Assad. It would deprive Moscow of its only ally. Putin is in a trap. "
       "The Kremlin denies it. Analysts disagree.")


def _cite(n: int, quote: str, text: str = ART, base: int = 0, chunk: str = "c1",
          doc: str = "a.md") -> Citation:
    i = text.index(quote)
    return Citation(n, doc, "Assad <stance>", quote, base + i, base + i + len(quote), chunk,
                    "AP")


def _passage(text: str = ART, start: int = 0, chunk: str = "c1", doc: str = "a.md") -> Passage:
    return Passage(chunk, doc, "Assad <stance>", text, 0.9, start, start + len(text), "AP")


def test_quotes_of_one_passage_are_one_card_each_highlighted() -> None:
    from rag.ui_render import group_citations, render_source_cards

    quotes = ["Moscow backs Assad.", "It would deprive Moscow of its only ally.",
              "Putin is in a trap.", "The Kremlin denies it."]
    other = Passage("c9", "b.md", "Other", "Tartus is a naval base.", 0.5, 40, 63, None)
    cites = [_cite(n, q) for n, q in enumerate(quotes, 1)]
    cites.append(Citation(5, "b.md", "Other", "Tartus is a naval base.", 40, 63, "c9"))
    answer = Answer("q", " ".join(f"{q} [{n}]" for n, q in enumerate(quotes, 1)), cites,
                    [_passage(), other])
    groups = group_citations(answer.citations, answer.passages)
    assert [[c.n for c in g.citations] for g in groups] == [[1, 2, 3, 4], [5]]
    html = render_source_cards(answer, 3)
    assert html.count('class="card"') == 2
    assert html.count('<mark class="q">') == 5
    for n in range(1, 6):
        assert html.count(f'id="src-3-{n}"') == 1
    assert "Assad &lt;stance&gt;" in html and "<stance>" not in html
    assert html.count('class="open-doc"') == 2 and 'data-doc="a.md"' in html


def test_overlapping_passages_of_one_article_are_merged_into_one_card() -> None:
    from rag.ui_render import group_citations

    first, second = ART[:60], ART[39:]  # neighbouring chunks share "It would ... ally."
    cites = [_cite(1, "Moscow backs Assad.", chunk="c1"),
             _cite(2, "Putin is in a trap.", chunk="c2")]
    groups = group_citations(cites, [_passage(first, 0, "c1"), _passage(second, 39, "c2")])
    assert len(groups) == 1
    assert groups[0].text == ART and groups[0].start == 0
    assert all(groups[0].span(c) for c in cites)


def test_far_apart_quotes_leave_out_the_middle() -> None:
    from rag.ui_render import CONTEXT_CHARS, render_source_cards

    filler = " ".join(["word"] * CONTEXT_CHARS)
    text = f"Alpha is first. {filler} Omega is last."
    cites = [_cite(1, "Alpha is first.", text), _cite(2, "Omega is last.", text)]
    html = render_source_cards(Answer("q", "Alpha is first. [1] Omega is last. [2]", cites,
                                      [_passage(text)]), 0)
    assert '<span class="gap">…</span>' in html
    assert html.count("word") < len(filler.split())


def test_every_answer_keeps_its_own_sources() -> None:
    from rag.ui_render import render_answer, render_chat

    turns = []
    for k, quote in enumerate(["Moscow backs Assad.", "Putin is in a trap."]):
        answer = Answer(f"q{k}", f"{quote} [1]", [_cite(1, quote)], [_passage()])
        turns.append({"question": f"q{k}", "html": render_answer(answer, k)})
    html = render_chat(turns)
    for k, quote in enumerate(["Moscow backs Assad.", "Putin is in a trap."]):
        assert html.count(f'href="#src-{k}-1"') == 1
        assert html.count(f'id="src-{k}-1"') == 1
        turn = html.split(f'id="turn-{k}"')[1].split('id="turn-')[0]
        assert f'<span class="qn" id="src-{k}-1">1</span>{quote}</mark>' in turn


def test_false_premise_correction_is_an_answer_with_links() -> None:
    from html import escape

    from rag import prompts
    from rag.ui_render import PREMISE_HEAD, answer_kind, render_answer

    quote = "The Kremlin denies it."
    answer = Answer("Why did Putin drop Assad?", f"{prompts.FALSE_PREMISE} {quote} [1]",
                    [_cite(1, quote)], [_passage()], abstained=True)
    html = render_answer(answer, 2)
    assert answer_kind(answer) == "premise"
    assert escape(PREMISE_HEAD) in html and 'class="note premise"' in html
    assert prompts.FALSE_PREMISE not in html and "answer this" not in html
    assert '<a class="cite" href="#src-2-1"' in html and 'id="src-2-1"' in html


def test_abstention_says_it_once_and_lists_the_closest_passages() -> None:
    from rag import prompts
    from rag.ui_render import answer_kind, render_answer

    answer = Answer("capital of Australia?", prompts.ABSTAIN + prompts.ABSTAIN_CLOSEST, [],
                    [_passage()], abstained=True)
    html = render_answer(answer, 0)
    assert answer_kind(answer) == "abstained"
    assert html.count("don&#x27;t answer") == 1
    assert "listed below" not in html
    assert html.count('class="card closest"') == 1 and "<a class=\"cite\"" not in html


def test_tooltip_shows_title_outlet_and_context_not_the_quote() -> None:
    from rag.ui_render import group_citations, render_tooltip

    quote = "Putin is in a trap."
    c = _cite(3, quote)
    tip = render_tooltip(c, group_citations([c], [_passage()])[0])
    assert "Assad &lt;stance&gt;" in tip and "AP" in tip
    assert "It would deprive Moscow of its only ally." in tip  # the sentence before
    assert "The Kremlin denies it." in tip  # the sentence after
    assert quote not in tip and "[3: this sentence]" in tip


def test_render_article_marks_the_quotes() -> None:
    from rag.ui_render import parse_spans, render_article

    text = "Intro <b>x</b>. Quoted one. Middle. Quoted two."
    a, b = text.index("Quoted one."), text.index("Quoted two.")
    raw = [[2, b, b + 11], [1, a, a + 11], [7, a + 2, a + 5], ["x", 0, 1], [9, 40, 999]]
    spans = parse_spans(raw, len(text))
    assert spans == [(1, a, a + 11), (2, b, b + 11)]  # sorted; overlapping and bad dropped
    html = render_article("a.md", text, "T", "AP", "2017-04-10", spans, focus=2)
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    assert '<mark class="q" data-n="1"><span class="qn">1</span>Quoted one.</mark>' in html
    assert '<mark class="q focus" data-n="2">' in html
    assert "AP · 2017-04-10 · a.md" in html


def test_upload_result_names_each_file() -> None:
    from rag.ui_render import render_upload_result

    html = render_upload_result(["good.md"], [("bin.txt", "looks <binary>")], "3 documents")
    assert "Added 1 file, rejected 1" in html and 'class="lib-msg mixed"' in html
    assert "<b>good.md</b> added" in html
    assert "<b>bin.txt</b> rejected: looks &lt;binary&gt;" in html
    nothing = render_upload_result([], [("a.exe", "unsupported type")])
    assert "Nothing was added; the library is unchanged." in nothing
