"""Follow-up questions: the rewriting rules, and what a follow-up retrieves over the demo
corpus (real FAISS and SQLite; the hash embedder, and the real model in the ``model`` test).

A follow-up must retrieve what it asks for, not the earlier answer again: it is searched as
its standalone rewrite (its own words plus the previous question's topic) and as asked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import rag
from rag.errors import RagError
from rag.followup import as_turns, condense, is_followup, topic

DEMO = "Why won't Russia drop Assad?"
STRIKE = "Why did the US strike the Shayrat air base?"
RESPONSE = "And how did Moscow respond to that?"


# -- rewriting (no index) ---------------------------------------------------------------------
def test_a_reference_gets_the_previous_topic_not_the_previous_question() -> None:
    assert condense([(STRIKE, "...")], RESPONSE) == (
        "How did Moscow respond to that (US, Shayrat air base)?"
    )
    history = [(DEMO, "The Russian president can't accept ... [1]")]
    assert condense(history, "And why does that matter to Putin?") == (
        "Why does that matter to Putin (Russia, Assad)?"
    )


def test_a_pronoun_for_a_person_becomes_the_name() -> None:
    history = [("Who is Ania Viver?", "Ania Viver is an editorial/research assistant ... [1]")]
    assert condense(history, "Where did she study?") == "Where did Ania Viver study?"
    assert condense(history, "What is her degree?") == "What is Ania Viver's degree?"
    kosachev = [("What did Konstantin Kosachev say about the hotline?", "")]
    assert condense(kosachev, "Under what condition would he restore it?") == (
        "Under what condition would Konstantin Kosachev restore it (hotline)?"
    )


def test_it_points_at_a_thing_not_at_a_person() -> None:
    history = [("What did Konstantin Kosachev say about the hotline?", "")]
    assert condense(history, "What did the Pentagon say about it?") == (
        "What did the Pentagon say about it (hotline)?"
    )


def test_nothing_of_its_own_or_a_new_subject_joins_the_last_standalone_question() -> None:
    assert condense([(DEMO, "a")], "Why?") == "Why won't Russia drop Assad, and why?"
    history = [(DEMO, "a"), ("And why does that matter to Putin?", "b")]
    assert condense(history, "What about Iran?") == (
        "Why won't Russia drop Assad, and what about Iran?"
    )


def test_a_chain_of_follow_ups_keeps_its_topic() -> None:
    history = [(STRIKE, "a"), (RESPONSE, "b")]
    assert condense(history, "Why did they freeze the hotline?") == (
        "Why did they freeze the hotline (Moscow, US, Shayrat air base)?"
    )


def test_standalone_questions_are_left_alone() -> None:
    history = [(DEMO, "a")]
    assert condense(history, "  How big is the  naval base in Tartus? ") == (
        "How big is the naval base in Tartus?"
    )
    assert condense(history, "Is it true that Moscow backs Assad?") == (
        "Is it true that Moscow backs Assad?"
    )
    assert condense([], "And why does that matter?") == "And why does that matter?"


def test_is_followup() -> None:
    assert is_followup("Why?")
    assert is_followup("what about the US?")
    assert is_followup("What did he say?")
    assert not is_followup(DEMO)
    assert not is_followup("")


@pytest.mark.parametrize(
    ("question", "phrases"),
    [
        (DEMO, ["Russia", "Assad"]),
        (STRIKE, ["US", "Shayrat air base"]),
        ("How many Tomahawk missiles were launched?", ["Tomahawk missiles"]),
        ("Why did Russia veto the UN resolution on Syria?", ["Russia", "UN resolution", "Syria"]),
        ("Why did the military freeze the hotline?", ["military", "hotline"]),
        ("Who vetoed the resolution?", ["resolution"]),
        ("How did Moscow respond to that (US, Shayrat air base)?",
         ["Moscow", "US", "Shayrat air base"]),
    ],
)
def test_topic_keeps_names_and_nouns_not_verbs(question: str, phrases: list[str]) -> None:
    assert topic(question) == phrases


def test_history_comes_as_pairs_messages_or_turns() -> None:
    messages = [
        {"role": "user", "content": STRIKE}, {"role": "assistant", "content": "a"},
        {"role": "user", "content": "b?"},
    ]
    assert as_turns(messages) == [(STRIKE, "a"), ("b?", "")]
    assert as_turns([[STRIKE, "a"], (DEMO,), {"question": "c?", "text": "d"}]) == [
        (STRIKE, "a"), (DEMO, ""), ("c?", "d")]
    assert condense(messages[:2], RESPONSE) == condense([(STRIKE, "a")], RESPONSE)
    with pytest.raises(RagError, match="pair or a chat message"):
        as_turns([42])  # type: ignore[list-item]


# -- what a follow-up retrieves (demo corpus, hash embedder) -----------------------------------
@pytest.fixture(scope="module")
def qa(hash_index: Path):  # noqa: ANN201
    return rag.load(hash_index, embedding_model="hash")


CASES = [
    # (first question, follow-up, a phrase of the passage the follow-up asks for)
    ("What did Konstantin Kosachev say about the hotline?", "What did the Pentagon say about it?",
     "The Pentagon has insisted that no such danger exists."),
    ("Why did Russia veto the UN resolution on Syria?",
     "What did the opposition urge Russia to do about it?",
     "urged Russia to give up its support for Assad"),
]


@pytest.mark.parametrize(("first", "followup", "needle"), CASES)
def test_a_followup_retrieves_what_it_asks_for(qa, first: str, followup: str,  # noqa: ANN001
                                               needle: str) -> None:
    before = qa.search(first)
    after = qa.search(followup, history=[(first, "...")])
    assert after.question != followup and after.question.startswith(followup[:12])
    assert needle in after.passages[0].text  # the passage it asks for comes first
    assert needle not in before.passages[0].text  # ... which the first question did not find
    assert after.passages[0].chunk_id != before.passages[0].chunk_id
    # Joining the follow-up to the whole first question (the old rewrite) found the first
    # question's passage again.
    joined = qa.search(f"{first[:-1]}, and {followup[0].lower()}{followup[1:]}")
    assert joined.passages[0].chunk_id == before.passages[0].chunk_id


def test_search_returns_a_typed_retrieval(qa) -> None:  # noqa: ANN001
    r = qa.search(STRIKE, top_k=4)
    assert r.question == STRIKE and len(r.passages) == 4
    assert len(r.dense_scores) == 4 and r.query_vector is not None
    assert r.query_vector.shape == (qa.embedder.dim,) and r.embedder is qa.embedder
    assert "retrieve" in r.timings
    for c in r.context:  # the sentence before a passage, from the chunk before it
        assert len(c.sentences) == 1 and all(c.chunk_id != p.chunk_id for p in r.passages)
    assert not hasattr(qa.hybrid, "last_query_vector")


def test_ask_with_history_records_the_standalone_question(qa) -> None:  # noqa: ANN001
    first = qa.ask(CASES[0][0])
    ans = qa.ask(CASES[0][1], history=[(CASES[0][0], first.text)])
    assert ans.question == CASES[0][1]
    assert ans.standalone_question == "What did the Pentagon say about it (hotline)?"
    assert ans.to_dict()["standalone_question"] == ans.standalone_question
    assert "The Pentagon has insisted" in ans.passages[0].text
    messages = [{"role": "user", "content": CASES[0][0]},
                {"role": "assistant", "content": first.text}]
    via_chain = qa.chain.invoke({"question": CASES[0][1], "history": messages})
    assert via_chain.text == ans.text
    snaps = list(qa.stream(CASES[0][1], history=messages))
    assert snaps[-1].text == ans.text
    assert all(s.standalone_question == ans.standalone_question for s in snaps)
    alone = qa.ask(CASES[0][1])
    assert alone.standalone_question == CASES[0][1]


# -- the real embedding model ----------------------------------------------------------------
@pytest.mark.model
@pytest.mark.parametrize(
    ("first", "followup", "needle", "moved"),
    [
        # The strike and Moscow's response share a passage; the response must stay first.
        (STRIKE, RESPONSE, "Moscow froze the military hotline", False),
        (CASES[0][0], CASES[0][1], "The Pentagon has insisted", True),
        ("What did Russia say about the chemical attack in Khan Sheikhoun?",
         "What did Trump call Assad after it?", "called Assad ‘‘an animal’’", True),
    ],
)
def test_a_followup_retrieves_what_it_asks_for_with_the_real_model(
    model_qa, first: str, followup: str, needle: str, moved: bool  # noqa: ANN001
) -> None:
    after = model_qa.search(followup, history=[(first, "...")])
    assert needle in after.passages[0].text
    if moved:
        assert needle not in model_qa.search(first).passages[0].text
