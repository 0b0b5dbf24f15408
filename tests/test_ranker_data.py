"""The answer ranker's generated training questions (rag.train.ranker_data): no model."""

from __future__ import annotations

import random

import pytest

from rag.ranker import candidate_text
from rag.train.ranker_data import _statement_query, questions_for, type_mismatch


@pytest.mark.parametrize(
    ("sentence", "qtype", "answer"),
    [
        ("All 150 people on board the plane were killed.", "number", "150"),
        ("The project will cost $4 million over six years.", "money", "$4 million"),
        ("The talks were tense, Secretary Rex Tillerson said on Wednesday.", "quote",
         "Secretary Rex Tillerson"),
        ("The flight was delayed because of heavy fog over the airport.", "why",
         "heavy fog over the airport."),
    ],
)
def test_questions_ask_for_what_the_sentence_holds(sentence: str, qtype: str,
                                                   answer: str) -> None:
    qs = questions_for(sentence, random.Random(0), one=False)
    q = next(q for q in qs if q.qtype == qtype)
    assert q.answer == answer
    assert q.text.endswith("?")
    if qtype != "quote":  # "What did X say ...?" names its speaker; others hide the answer
        assert answer.split()[0].strip("$") not in q.text.split()


def test_a_type_mismatch_asks_for_a_number_or_date_the_sentence_lacks() -> None:
    seen = {type_mismatch("Officials praised the rescue teams and the volunteers.",
                          random.Random(i)).qtype for i in range(10)}  # type: ignore[union-attr]
    assert seen <= {"number", "date"} and seen
    assert type_mismatch("All 150 people were killed.", random.Random(0)) is None


def test_statement_queries_keep_names_capitalised() -> None:
    out = {_statement_query("Mohammad Zarif met Kerry.", random.Random(i)) for i in range(6)}
    assert out == {"Mohammad Zarif met Kerry.", "Is it true that Mohammad Zarif met Kerry?"}
    out = {_statement_query("The plane crashed.", random.Random(i)) for i in range(6)}
    assert "Is it true that the plane crashed?" in out


def test_candidates_carry_the_sentence_before() -> None:
    assert candidate_text("It hosts ships.", "Russia has a base.") == (
        "It hosts ships. || Russia has a base.")
    assert candidate_text("It hosts ships.") == "It hosts ships."
