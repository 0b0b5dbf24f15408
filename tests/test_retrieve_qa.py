"""Retrieval and question answering over the demo corpus with the hash embedder."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.documents import Document as LCDocument
from langchain_core.runnables import Runnable

import rag
from rag.errors import RagError
from rag.retrieve import HybridRetriever
from rag.store import Store


@pytest.fixture(scope="module")
def qa(hash_index: Path):  # noqa: ANN201
    return rag.load(hash_index, embedding_model="hash")


def test_each_mode_finds_the_missile_passage(qa) -> None:  # noqa: ANN001
    for mode in ("dense", "bm25", "hybrid"):
        r = HybridRetriever(qa.store, qa.embedder, top_k=3, mode=mode)
        top = r.run("Tomahawk cruise missiles from US warships")
        assert "59 Tomahawk cruise missiles" in top[0].text, mode


def test_hybrid_results_are_diverse_and_ranked(qa) -> None:  # noqa: ANN001
    passages = qa.retrieve("Russia support for Assad and the Syrian regime", top_k=4)
    assert len({p.doc_id for p in passages}) == 2
    assert len({p.chunk_id for p in passages}) == 4
    for p in passages:
        assert qa.document_text(p.doc_id)[p.start : p.end] == p.text


def test_arguments_are_validated(qa) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="top_k must be > 0, got 0"):
        HybridRetriever(qa.store, qa.embedder, top_k=0)
    with pytest.raises(ValueError, match="mode must be"):
        HybridRetriever(qa.store, qa.embedder, mode="magic")


def test_langchain_retriever(qa) -> None:  # noqa: ANN001
    docs = qa.retriever.invoke("Konstantin Kosachev, head of the foreign affairs committee")
    assert docs and all(isinstance(d, LCDocument) for d in docs)
    assert "Kosachev" in docs[0].page_content
    meta = docs[0].metadata
    assert {"chunk_id", "doc_id", "title", "start", "end", "score"} <= set(meta)


def test_answer_citations_are_exact_quotes(qa) -> None:  # noqa: ANN001
    ans = qa.ask("How many Tomahawk cruise missiles did US warships launch?")
    assert not ans.abstained
    assert "59 Tomahawk" in ans.text
    assert ans.citations and [c.n for c in ans.citations] == list(range(1, len(ans.citations) + 1))
    for c in ans.citations:
        assert qa.document_text(c.doc_id)[c.start : c.end] == c.quote
        assert f"{c.quote} [{c.n}]" in ans.text
        assert c.chunk_id in {p.chunk_id for p in ans.passages}


def test_off_topic_question_abstains_with_passages(qa) -> None:  # noqa: ANN001
    ans = qa.ask("What is the recipe for banana bread?")
    assert ans.abstained and not ans.citations
    assert "don't answer" in ans.text
    assert ans.passages  # the closest passages are still returned


def test_missing_number_abstains(qa) -> None:  # noqa: ANN001
    ans = qa.ask("How many people died in Khan Sheikhoun?")
    assert ans.abstained


def test_unknown_name_abstains(qa) -> None:  # noqa: ANN001
    assert qa.ask("What did Angela Merkel say about the Syrian airstrike?").abstained


def test_stream_yields_growing_snapshots(qa) -> None:  # noqa: ANN001
    snaps = list(qa.stream("Why did Moscow freeze the military hotline?"))
    assert len(snaps) >= 2
    texts = [s.text for s in snaps]
    for a, b in zip(texts, texts[1:], strict=False):
        assert b.startswith(a)
    assert snaps[-1] == qa.ask("Why did Moscow freeze the military hotline?") or snaps[-1].text


def test_chain_is_a_runnable(qa) -> None:  # noqa: ANN001
    chain = qa.chain
    assert isinstance(chain, Runnable)
    ans = chain.invoke({"question": "What did Jim Mattis say?"})
    assert "Mattis" in ans.text and ans.citations
    assert list(chain.stream("What did Jim Mattis say?"))[-1].text == ans.text


@pytest.mark.parametrize("bad", ["", "   ", "\n"])
def test_empty_question_is_refused(qa, bad: str) -> None:  # noqa: ANN001
    with pytest.raises(RagError, match="question is empty"):
        qa.ask(bad)


def test_to_dict_is_json_ready(qa) -> None:  # noqa: ANN001
    import json

    d = qa.ask("What did Jim Mattis say?").to_dict()
    assert {"answer", "citations", "passages", "abstained"} <= set(d)
    assert {"n", "doc_id", "title", "quote", "start", "end"} <= set(d["citations"][0])
    json.dumps(d)


def test_store_reads_documents(hash_index: Path) -> None:
    store = Store.open(hash_index)
    docs = store.documents()
    assert [d.doc_id for d in docs] == ["russia-assad-ap.md", "russia-syria-stance-fpb.md"]
    assert docs[1].author == "Ania Viver" and sum(d.n_chunks for d in docs) == store.chunk_count()


@pytest.mark.model
@pytest.mark.parametrize("question", ["\ud800", "Why did Russia \udfff freeze the hotline?"])
def test_a_lone_surrogate_in_a_question_is_replaced_not_raised(model_qa, question: str) -> None:  # noqa: ANN001
    ans = model_qa.ask(question)
    assert "\ufffd" in ans.question or ans.question == question
    assert isinstance(ans.text, str) and ans.text
