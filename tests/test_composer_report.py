"""The hand-written calibration questions (rag/train/data) and their staging.

They are what the answer writers may be tuned on, so they must stay on the calibration split
of the shared data, quote their articles exactly, and name key points their evidence makes.
"""

from __future__ import annotations

import json

import pytest
from conftest import assert_quoted

from rag.train import composer_report
from rag.train.composer_report import DISTRACTORS, QUESTIONS, load_questions, stage
from rag.train.news import DEFAULT_DATA

needs_data = pytest.mark.skipif(not DEFAULT_DATA.exists(), reason="shared news data not present")


def test_questions_are_of_every_kind_and_on_the_calibration_split():
    cases, articles = load_questions()
    assert len(cases) >= 200
    kinds = {c.kind for c in cases}
    assert kinds == {"fact", "why", "paraphrase", "multi_doc", "unanswerable", "false_premise"}
    assert all(articles[c.id] for c in cases)
    assert all(not c.evidence and not c.key_points for c in cases if not c.answerable)


def test_a_report_split_article_is_refused(tmp_path):
    line = json.loads(QUESTIONS.read_text(encoding="utf-8").splitlines()[0])
    line["articles"] = ["cnndm-00003"]  # a report-split article (the news eval set's split)
    from rag.train.news import split_of

    assert split_of("cnndm-00003") != "calibration"
    bad = tmp_path / "q.jsonl"
    bad.write_text(json.dumps(line) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="outside the calibration split: cnndm-00003"):
        load_questions(bad)


@needs_data
def test_evidence_is_quoted_from_the_named_articles_and_makes_the_key_points():
    cases, articles = load_questions()
    assert_quoted(cases, articles)


@needs_data
def test_stage_writes_the_articles_and_distractors_once(tmp_path):
    _, articles = load_questions()
    needed = {a for ids in articles.values() for a in ids}
    (tmp_path / "cnndm-stale.txt").write_text("An article an older question set needed.")
    staged = stage(tmp_path, needed)
    assert len(staged) == len(needed) + DISTRACTORS
    assert needed <= set(staged)
    files = sorted(tmp_path.glob("*.txt"))
    assert [f.stem for f in files] == sorted(staged)
    before = {f.name: f.stat().st_mtime_ns for f in files}
    assert stage(tmp_path, needed) == staged
    assert {f.name: f.stat().st_mtime_ns for f in tmp_path.glob("*.txt")} == before


def test_table_lists_every_metric_and_kind():
    gen = {k: 0.5 for k in composer_report.METRICS}
    report = {"questions": 2, "articles": 3, "by_kind": {"fact": 1, "why": 1},
              "generators": {"extractive": {**gen, "passed_by_kind": {"fact": 1.0, "why": 0.0}}},
              "premise_support": {"false_premise": {"questions": 4, "found_supported": 1.0}}}
    table = composer_report._table(report)
    assert all(f"| {k} | 0.5 |" in table for k in composer_report.METRICS)
    assert "| passed: why | 0.0 |" in table
    assert "false premises: 1.0 of 4" in table
