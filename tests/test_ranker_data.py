"""The answer ranker's generated training questions (rag.train.ranker_data): no model."""

from __future__ import annotations

import argparse
import random
from pathlib import Path

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


needs_data = pytest.mark.skipif(
    not __import__("rag.train.news", fromlist=["DEFAULT_DATA"]).DEFAULT_DATA.exists(),
    reason="shared news data not present")


@needs_data
def test_written_questions_give_their_evidence_as_positives_and_near_misses_as_negatives(
        tmp_path) -> None:
    import json

    from rag.train.news import read_articles
    from rag.train.ranker_data import _sentences, written_examples

    article = next(iter(read_articles(split="train", limit=1)))
    sents = [s for s in _sentences(article) if 6 <= len(s.split()) <= 60]
    answer = sents[2]
    rows = [
        {"id": "a", "question": "What happened?", "answerable": True, "evidence": [answer],
         "key_points": [[answer.split()[0].lower()]], "reference_answer": "", "kind": "fact",
         "articles": [article.id]},
        {"id": "u", "question": "Who paid for it?", "answerable": False, "evidence": [],
         "key_points": [], "reference_answer": "", "kind": "unanswerable",
         "articles": [article.id]},
    ]
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    ex = written_examples(path)
    pos = [e for e in ex if e.label]
    assert [e.question for e in pos] == ["What happened?"]
    assert pos[0].candidate.startswith(answer)
    assert all(not e.candidate.startswith(answer) for e in ex if not e.label
               and e.question == "What happened?")
    unanswerable = [e for e in ex if e.question == "Who paid for it?"]
    assert unanswerable and not any(e.label for e in unanswerable)
    assert sum(e.source == "written" for e in unanswerable) == min(6, len(sents))
    rows[0]["articles"] = ["cnndm-00012"]  # a calibration-split article
    path.write_text(json.dumps(rows[0]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="outside the train split"):
        written_examples(path)


@needs_data
def test_committed_written_questions_are_on_the_train_split_and_quote_their_articles() -> None:
    """rag/train/data/train_questions.jsonl: what the ranker's stage 2 learns from. Every
    article is a train-split one (never calibration, never the report split the news eval set
    comes from), every evidence sentence is quoted exactly and holds its key points, and the
    questions are of every kind the eval sets have."""
    import json
    from collections import Counter

    from conftest import assert_quoted

    from evals.suite import load_cases
    from rag.train.news import split_of
    from rag.train.ranker_data import WRITTEN_QUESTIONS

    cases = load_cases(WRITTEN_QUESTIONS)
    rows = {json.loads(x)["id"]: json.loads(x)["articles"]
            for x in WRITTEN_QUESTIONS.read_text(encoding="utf-8").splitlines() if x.strip()}
    assert len(cases) >= 600
    assert set(Counter(c.kind for c in cases)) == {
        "fact", "why", "paraphrase", "multi_doc", "unanswerable", "false_premise"}
    wanted = {a for ids in rows.values() for a in ids}
    assert {split_of(a) for a in wanted} == {"train"}
    assert_quoted(cases, rows)
    assert all(c.answerable == bool(c.evidence) for c in cases)


def test_ranker_training_runs_stage_two_by_default_and_stops_early_on_a_missing_file(
        tmp_path: Path) -> None:
    """The shipped ranker-2 comes from the default command, so stage 2 is on unless
    ``--written ''``; a mistyped path fails at once, not after stage 1's half hour, and
    leaves no work folder behind."""
    from rag.train import ranker
    from rag.train.ranker_data import WRITTEN_QUESTIONS

    p = argparse.ArgumentParser()
    ranker.add_arguments(p)
    assert p.parse_args([]).written == str(WRITTEN_QUESTIONS)
    assert p.parse_args(["--written", ""]).written == ""
    args = p.parse_args(["--written", str(tmp_path / "typo.jsonl"),
                         "--work-dir", str(tmp_path / "work")])
    with pytest.raises(FileNotFoundError, match="typo.jsonl: no such file.*--written ''"):
        ranker.run(args)
    assert not (tmp_path / "work").exists()
