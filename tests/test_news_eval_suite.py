"""The eval suite's pieces for the second set and the answer-focus metrics (no model).

``unmatched_sentence_rate``, ``multi_doc_passed``, the side-by-side report, staging the news
articles for their index, and dropping the news set's thresholds when it is not run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from evals.suite import (
    NEWS_PREFIX,
    Case,
    CaseResult,
    aggregate,
    case_passed,
    check_thresholds,
    makes_a_point,
    markdown,
    score_case,
    stage_articles,
    target_rows,
    without_prefix,
)
from rag.types import Citation, Passage

PASSAGE = Passage("c1", "a.md", "A", "They fired 59 missiles at Shayrat. The sky was blue.", 1.0)


@dataclass
class _Support:
    supported: bool = True


class _Scorer:
    def score(self, sentence: str, passage: str) -> _Support:
        return _Support()


@dataclass
class _Answer:
    text: str
    abstained: bool = False
    citations: list[Citation] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=lambda: [PASSAGE])
    dropped: list[object] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"citations": [{"n": c.n, "quote": c.quote} for c in self.citations]}


def _case(kind: str = "fact", answerable: bool = True, cid: str = "fact-01") -> Case:
    points = [["59"], ["shayrat"]] if answerable else []
    evidence = ["They fired 59 missiles at Shayrat."] if answerable else []
    return Case(cid, "How many missiles?", answerable, evidence, points, "59.", kind)


def _cite(n: int, quote: str) -> Citation:
    return Citation(n, "a.md", "A", quote, 0, len(quote), "c1")


def test_makes_a_point_matches_any_phrasing_normalised() -> None:
    assert makes_a_point("It “isn’t unconditional”. [1]", [["isn't unconditional"]])
    assert not makes_a_point("The sky was blue. [2]", [["59"], ["shayrat"]])


def test_unmatched_sentences_counted_per_case() -> None:
    answer = _Answer("They fired 59 missiles at Shayrat. [1] The sky was blue. [1]",
                     citations=[_cite(1, "They fired 59 missiles at Shayrat.")])
    res = score_case(_case(), answer, _Scorer(), k=5)
    assert res.metrics["answer_sentences"] == 2
    assert res.metrics["unmatched_sentences"] == 1
    assert res.metrics["unmatched_sentence_rate"] == 0.5
    assert not res.failures  # padding is measured, not (yet) a failure


def test_no_unmatched_figures_for_abstentions_or_unanswerable_cases() -> None:
    abstained = score_case(_case(), _Answer("NOT IN SOURCES", abstained=True), _Scorer(), k=5)
    assert "unmatched_sentence_rate" not in abstained.metrics
    answered = score_case(_case("unanswerable", False, "unans-01"),
                          _Answer("The sky was blue. [1]", citations=[_cite(1, "x")]),
                          _Scorer(), k=5)
    assert "unmatched_sentence_rate" not in answered.metrics


def _result(kind: str, coverage: float, abstained: bool = False, sentences: int = 0,
            unmatched: int = 0) -> CaseResult:
    answerable = kind not in ("unanswerable", "false_premise")
    r = CaseResult(_case(kind, answerable), abstained=abstained)
    if answerable:
        r.metrics = {"key_point_coverage": coverage, "abstained_wrongly": float(abstained)}
        if sentences:
            r.metrics |= {"answer_sentences": float(sentences),
                          "unmatched_sentences": float(unmatched)}
    else:
        r.metrics = {"abstained_correctly": float(abstained)}
    return r


def test_case_passed() -> None:
    assert case_passed(_result("multi_doc", 1.0))
    assert not case_passed(_result("multi_doc", 0.5))
    assert not case_passed(_result("multi_doc", 0.0, abstained=True))
    assert case_passed(_result("unanswerable", 0.0, abstained=True))
    assert not case_passed(_result("false_premise", 0.0))


def test_aggregate_pools_sentences_and_counts_multi_doc_passes() -> None:
    results = [
        _result("multi_doc", 1.0, sentences=3, unmatched=1),
        _result("multi_doc", 0.5, sentences=1, unmatched=1),
        _result("multi_doc", 1.0, abstained=True),
        _result("fact", 1.0, sentences=4, unmatched=0),
        _result("unanswerable", 0.0, abstained=True),
    ]
    m = aggregate(results)
    assert m["unmatched_sentence_rate"] == round(2 / 8, 4)  # sentences, not a mean of cases
    assert m["multi_doc_passed"] == 1
    assert m["n_multi_doc"] == 3
    assert aggregate([_result("fact", 1.0)])["multi_doc_passed"] is None


def test_side_by_side_report_and_targets() -> None:
    demo = [_result("multi_doc", 1.0, sentences=2, unmatched=0)]
    news = [_result("multi_doc", 0.5, sentences=2, unmatched=2)]
    metrics = aggregate(demo) | {NEWS_PREFIX + k: v for k, v in aggregate(news).items()}
    thresholds = {"targets": {"min": {"multi_doc_passed": 1, "news_key_point_coverage": 0.75},
                              "max": {"news_unmatched_sentence_rate": 0.15}}}
    md = markdown(metrics, demo, [], thresholds, None, news)
    assert "| metric | demo corpus | news set |" in md
    assert "| unmatched_sentence_rate | 0.0 | 1.0 |" in md
    assert "| multi_doc_passed | 1 | 0 |" in md
    assert "| multi_doc | 1 | 1 | 0 | 1 | 0 | 0 |" in md
    assert "| news_key_point_coverage | 0.5 | ≥ 0.75 | -0.25 (MISSED) |" in md
    assert "| news_unmatched_sentence_rate | 1.0 | ≤ 0.15 | -0.85 (MISSED) |" in md
    assert "## Failing cases: demo corpus" in md and "## Failing cases: news set" in md
    assert not any(k.startswith(NEWS_PREFIX) for k in ("multi_doc_passed",))


def test_demo_only_report_keeps_its_layout() -> None:
    demo = [_result("fact", 1.0)]
    md = markdown(aggregate(demo), demo, [])
    assert "| metric | value |" in md and "news set" not in md
    assert "## Failing cases (0)" in md


def test_without_prefix_drops_floors_and_targets_of_the_news_set() -> None:
    thresholds = {"_comment": "x", "min": {"mrr": 0.7, "news_mrr": 0.5},
                  "max": {"news_abstention_false_rate": 0.1},
                  "targets": {"min": {"news_key_point_coverage": 0.75, "key_point_coverage": 0.85},
                              "max": {}}}
    out = without_prefix(thresholds, NEWS_PREFIX)
    assert out["min"] == {"mrr": 0.7} and out["max"] == {}
    assert out["targets"]["min"] == {"key_point_coverage": 0.85}
    assert check_thresholds({"mrr": 0.8}, out) == []
    assert check_thresholds({"mrr": 0.8}, thresholds)  # news floors unmet when not measured
    assert target_rows({"key_point_coverage": 0.9}, out) == [
        "| key_point_coverage | 0.9 | ≥ 0.85 | +0.05 (met) |"]


def test_stage_articles_mirrors_only_articles(tmp_path: Path) -> None:
    src, dst = tmp_path / "news", tmp_path / "stage"
    src.mkdir()
    (src / "news-a.md").write_text("---\ntitle: A\n---\nText A.\n")
    (src / "news-b.md").write_text("---\ntitle: B\n---\nText B.\n")
    (src / "SOURCES.md").write_text("# Sources\n")
    assert stage_articles(src, dst) == dst
    assert sorted(p.name for p in dst.iterdir()) == ["news-a.md", "news-b.md"]
    before = (dst / "news-a.md").stat().st_mtime_ns
    (src / "news-b.md").unlink()
    stage_articles(src, dst)
    assert sorted(p.name for p in dst.iterdir()) == ["news-a.md"]
    assert (dst / "news-a.md").stat().st_mtime_ns == before  # unchanged: not rewritten
