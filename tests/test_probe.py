"""The probes of ``rag.train.probe``: the gate's cross-validation sees a real signal and no
signal where there is none, and its eval-set figures count abstentions as the suite does."""

from __future__ import annotations

import random

from rag.train.probe import auc, gate


def _rows(separable: bool, seed: int = 0) -> tuple[list[dict], dict[str, str]]:
    rng = random.Random(seed)
    rows, groups = [], {}
    for name, n in (("cal", 200), ("demo", 40), ("news", 40)):
        for i in range(n):
            answerable = i % 3 != 0
            if separable:
                score = rng.uniform(0.6, 0.9) if answerable else rng.uniform(0.2, 0.5)
            else:
                score = rng.uniform(0.2, 0.9)
            rid = f"{name}-{i}"
            groups[rid] = f"article-{i // 2}"
            rows.append({"set": name, "id": rid, "answerable": answerable, "abstained": False,
                         "qtype": "other", "premise": False, "key_points": 1,
                         "sentences": [{"score": score, "logit": 0.0, "points": [0]}]})
    return rows, groups


def test_the_gate_finds_a_score_that_separates() -> None:
    rows, groups = _rows(separable=True)
    g = gate(rows, groups, with_logit=False)
    assert g["cv_auc"] == 1.0
    row = g["budgets"]["0.04"]
    assert row["cv_caught"] > 0.9 and row["cv_lost"] <= 0.05, row
    recall_before, recall_after = row["demo"]["abstention_recall"]
    assert recall_before == 0.0 and recall_after > 0.9, row["demo"]
    assert row["demo"]["false_abstention"][1] <= 0.1, row["demo"]


def test_the_gate_sees_no_signal_in_noise() -> None:
    rows, groups = _rows(separable=False)
    g = gate(rows, groups, with_logit=False)
    assert 0.35 < g["cv_auc"] < 0.65, g
    assert g["budgets"]["0.04"]["cv_caught"] < 0.2, g["budgets"]["0.04"]


def test_auc_counts_ties_half() -> None:
    assert auc([1, 1, 0], [True, False, False]) == 0.75
