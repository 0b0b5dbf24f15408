"""The default composer's tunables are the fit's decisions (rag.train.fit_composer).

The fit itself runs as written in tests/test_readme.py (``python -m rag.train fit-composer``
must reproduce the committed decisions); here: the values in use are those decisions, and the
decision rule takes a value only when it is nearer the targets beyond noise and no target
further.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from rag import compose
from rag.train import fit_composer
from rag.train.composer_report import QUESTIONS
from rag.train.fit_composer import FIT, Outcomes, compare, distance, fit, shipped, tunables


def test_values_in_use_are_the_committed_fit_decisions():
    report = json.loads(FIT.read_text(encoding="utf-8"))
    assert report["questions_sha256"] == fit_composer.digest(QUESTIONS), (
        "the calibration questions changed: rerun `python -m rag.train fit-composer`")
    assert shipped() == report["chosen"]
    assert set(report["chosen"]) == set(compose.TUNABLE_GRID)
    for name, values in compose.TUNABLE_GRID.items():
        chosen = report["chosen"][name]
        if isinstance(chosen, list):  # a word list: what is left of its entries
            assert set(chosen) <= set(values), name
        else:
            assert chosen in values, name
    last = report["rounds"][-1]
    assert last["changed"] == [], "the fit ended on a round that still changed something"


def test_tunables_sets_and_restores_the_module_values():
    before = compose.TYPE_FIT_CUT
    with tunables({"TYPE_FIT_CUT": 0.5, "max_sentences": 2}) as kwargs:
        assert compose.TYPE_FIT_CUT == 0.5
        assert kwargs == {"max_sentences": 2}
    assert before == compose.TYPE_FIT_CUT


def test_a_word_list_is_tried_without_each_entry_and_set_for_the_duration():
    assert fit_composer.candidates("L", ["a", "b"], {"L": ("a", "b", "c")}) == [
        ["a", "b"], ["b"], ["a"]]
    assert fit_composer.candidates("x", 0.5, {"x": (0.4, 0.5)}) == [0.4, 0.5]
    text = "They fled because of the war."
    assert compose._REASON.search(text)
    with tunables({"REASON_MARKERS": [m for m in compose.REASON_MARKERS if m != "because"]}):
        assert not compose._REASON.search(text)
    assert compose._REASON.search(text)


@dataclass
class _Case:
    answerable: bool


@dataclass
class _Result:
    case: _Case
    metrics: dict[str, float] = field(default_factory=dict)


def _results(kp: list[float], right: list[float], sentences: int = 2,
             unmatched: int = 1, wrong: int = 0) -> list[_Result]:
    """Answerable questions with key-point coverage ``kp`` (each answer ``sentences`` long,
    ``unmatched`` of them making no point; the first ``wrong`` abstained wrongly), then
    unanswerable ones abstaining as ``right`` says."""
    out = [_Result(_Case(True), {"key_point_coverage": k, "abstained_wrongly": float(i < wrong),
                                 "answer_sentences": float(sentences),
                                 "unmatched_sentences": float(unmatched)})
           for i, k in enumerate(kp)]
    out += [_Result(_Case(False), {"abstained_correctly": r}) for r in right]
    return out


def _metrics(o: Outcomes) -> dict[str, float]:
    return {k: float(v) for k, v in o.metrics(np.ones(len(o.kp))).items()}


def test_outcomes_aggregate_as_the_eval_suite_does():
    o = Outcomes(_results([1.0, 0.5, 0.0, 1.0], [1.0, 0.0], sentences=4, unmatched=1, wrong=1))
    m = _metrics(o)
    assert m == pytest.approx({"key_point_coverage": 0.625, "abstention_recall": 0.5,
                               "abstention_false_rate": 0.25, "unmatched_sentence_rate": 0.25})
    assert distance(m) == pytest.approx(0.225 + 0.4 + 0.1)


def test_a_value_is_taken_only_when_clearly_nearer_and_no_target_further():
    n_ans, n_un = 60, 20
    base = _results([0.5] * n_ans, [0.0] * n_un)
    options: dict[float, list[_Result]] = {
        0.0: base,
        # better everywhere: every unanswerable question now abstains
        1.0: _results([0.5] * n_ans, [1.0] * n_un),
        # nearer on the sum (no sentence without a point), but a fifth of key points lost
        2.0: _results([0.4] * n_ans, [0.0] * n_un, unmatched=0),
        # much nearer, but abstains wrongly on a tenth of answerable questions
        3.0: _results([0.5] * n_ans, [1.0] * n_un, wrong=6),
        # one more question abstains: nearer, but within noise
        4.0: _results([0.5] * n_ans, [1.0] + [0.0] * (n_un - 1)),
    }
    seen: list[float] = []

    def evaluate(values: dict[str, Any]) -> tuple[dict[str, float], Outcomes]:
        seen.append(values["x"])
        o = Outcomes(options[values["x"]])
        return _metrics(o), o

    for only, expected in ((2.0, 0.0), (3.0, 0.0), (4.0, 0.0), (1.0, 1.0)):
        result = fit(evaluate, {"x": 0.0}, {"x": (0.0, only)}, n_ans + n_un)
        assert result["chosen"]["x"] == expected, only
    tried = fit(evaluate, {"x": 0.0}, {"x": (0.0, 2.0)}, n_ans + n_un)["rounds"][0]
    assert tried["tunables"]["x"]["tried"][1]["worse_on"] == ["key_point_coverage"]
    result = fit(evaluate, {"x": 0.0}, {"x": (0.0, 1.0, 2.0, 3.0, 4.0)}, n_ans + n_un)
    assert result["chosen"]["x"] == 1.0 and len(result["rounds"]) == 2  # second round: no change


def test_compare_counts_resamples():
    a = Outcomes(_results([1.0] * 10, [1.0] * 5))
    b = Outcomes(_results([0.0] * 10, [0.0] * 5))
    w = np.ones((3, 15))
    assert compare(a, b, w) == (1.0, [])
    assert compare(b, a, w) == (0.0, ["key_point_coverage", "abstention_recall"])
