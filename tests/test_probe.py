"""The probes of ``rag.train.probe``: the gate's cross-validation sees a real signal and no
signal where there is none, and its eval-set figures count abstentions as the suite does; the
first-choice probe scores each ranker's pick over really retrieved sentences."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

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


class _WordRanker:
    """A scripted ranker: ``sign`` times whether the candidate holds ``word``."""

    def __init__(self, word: str, sign: float) -> None:
        self.word, self.sign, self.version = word, sign, f"word-{sign:+.0f}"

    def logits(self, question: str, candidates: list[str]) -> np.ndarray:
        return np.array([self.sign * (self.word in c.lower()) for c in candidates])

    def cosine_weight(self, embedding_model: str | None) -> float | None:
        return None  # fitted without an embedding model: no blended row


def test_first_choice_scores_each_rankers_pick_over_the_retrieved_sentences(
        hash_index: Path) -> None:
    """Real retrieval (hash embedder, FAISS, SQLite) over the demo articles: a ranker that puts
    the sentence with the key point first scores 1, one that puts it last scores 0."""
    import rag
    from evals.suite import Case
    from rag.train.probe import first_choice

    case = Case("c1", "Why did Russia veto the UN resolution on Syria?", True, [],
                [["vetoed"]], "", "why")
    unanswerable = Case("c2", "Who is the sculptor?", False, [], [], "", "unanswerable")
    out = first_choice([case, unanswerable], rag.load(hash_index, embedding_model="hash"),
                       {"right": _WordRanker("vetoed", 1.0), "wrong": _WordRanker("vetoed", -1.0)})
    assert out["questions"] == 1 and out["any_candidate"] == 1.0, out
    assert out["candidates"] > 2, out
    assert out["rankers"]["right"]["first_makes_a_point"] == 1.0, out
    assert out["rankers"]["right"]["key_points_in_first_two"] == 1.0, out
    assert out["rankers"]["wrong"]["first_makes_a_point"] == 0.0, out
    cosine = out["rankers"]["embedding cosine"]  # the stored sentence vectors' pick
    assert cosine["version"] == "hash", out
    assert 0.0 <= cosine["first_makes_a_point"] <= 1.0, out
    assert len(out["rankers"]) == 3, out  # no blend: these rankers fitted no cosine weight


def test_first_choice_by_embedding_picks_a_sentence_asked_word_for_word(
        hash_index: Path) -> None:
    """A question that is a retrieved sentence word for word: the embedding model's pick (its
    stored vector, cosine 1) makes the key point only that sentence holds."""
    import rag
    from evals.suite import Case
    from rag.compose_ranked import candidates
    from rag.text import words
    from rag.train.probe import first_choice

    qa = rag.load(hash_index, embedding_model="hash")
    r = qa.search("Russia vetoed the UN resolution on Syria.")
    sentences = [x.text for x in candidates([*r.passages, *r.context])]
    target = next(s for s in sentences if "vetoed" in s)
    r = qa.search(target)
    others = {w for x in candidates([*r.passages, *r.context]) if x.text != target
              for w in words(x.text)}
    only_here = next(w for w in words(target) if len(w) > 3 and w not in others)
    case = Case("c1", target, True, [], [[only_here]], "", "fact")
    out = first_choice([case], qa, {})
    assert out["rankers"]["embedding cosine"]["first_makes_a_point"] == 1.0, (only_here, out)
