"""Probes: could the trained ranker's scores improve the default composer? (Not yet: its
first choice is too often wrong.)

``python -m rag.train probe-answers`` answers the hand-written calibration questions
(``composer_report``) and, for comparison only, the two eval sets with the default composer,
then asks two questions of what it composed and one of what was retrieved. Nothing is tuned
to the eval sets: each idea is judged on the calibration questions, and the eval figures show
what shipping it would have looked like there.

1. **A learned abstention gate** after the composer. Among the questions it answers, a
   logistic model of the composer's best score, the question's type (``question_type``) and
   whether it has a premise (a why-question) predicts answerable; the gate abstains under the
   score that ``budget`` of the answerable calibration questions fall under. Judged by
   article-grouped ``FOLDS``-fold cross-validation on the calibration questions (every
   question scored by a model fitted without its article): AUC, and at each budget the share
   of answered unanswerable questions caught. A gate helps only if it catches clearly more
   than it loses. The ranker's logit of the best sentence is tried as a further feature.
2. **Pruning by the ranker**: keep the composer's best sentence, drop each other sentence
   whose ranker logit is more than ``tau`` under the best sentence's. Judged by the key points
   the composed sentences make and the share of them that make none (as in ``evals.suite``,
   on the composition before the support checker).
3. **The ranker's first choice**: over every sentence retrieved for an answerable calibration
   question (the ranked composer's candidates), how often the one the ranker scores highest
   makes a key point, and what share of the key points the first two make; ``--ranker DIR``
   adds other ranker folders (a retrained one) to compare in the same run. The same for the
   embedding model's cosine alone and for the ranked composer's score (logit plus weighted
   cosine). This is what both
   probes above found short: a cut on scores helps only when the first choice is right.

Figures of 2026-11-24 (ranker-2, the default composer as shipped; ``--out`` keeps them as
JSON). The gate's CV AUC on the calibration questions is 0.73, but the composer's best score
alone gives 0.62: most of it is the question's type, since half of the answered
why-questions there are false premises, a share real users' questions do not have. At a budget
of 0.04 it catches 15 of the 80 answered unanswerable questions and loses 9 of the 223
answerable ones, which takes false abstention from 0.066 to about 0.10, past the 0.05 the
issue allows beside its abstention target (the cap ``fit_composer`` keeps). ranker-1's logit
added nothing (AUC 0.73 either way); ranker-2's raises the AUC to 0.805, and at a budget of
0.02 the gate catches 24 of the 80 for 5 of the 223 (false abstention about 0.09): the first
gate that catches clearly more than it loses, not yet built into the composer. Pruning lowers
unmatched sentences only as fast as it loses key points (tau 2: unmatched 0.699 -> 0.631, key
points 0.627 -> 0.566): the best sentence alone makes no key point for about half the
questions, so the answer's length is not what keeps unmatched sentences high. Probe 3 says
why: over the 37 sentences retrieved for each of the 241 answerable questions, one makes a key
point for 0.92 of them, but ranker-2's first choice does for only 0.456 (ranker-1: 0.456; the
first two hold 0.528 of the key points, ranker-1's 0.511). The ranked composer's score (the
logit plus 5.421 x the cosine) does better, 0.502 (ranker-1 with its 2.3657 x the cosine:
0.456); all-MiniLM-L6-v2's cosine of question and sentence alone picks one that makes a key
point for 0.419.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

FOLDS = 5
BUDGETS = (0.02, 0.04, 0.06)  # share of answerable calibration questions the gate may lose
TAUS = (1.0, 2.0, 4.0, 6.0)  # logits under the best sentence's that a further one may be
BEST_ONLY = -1.0  # pruning's other end: the best sentence alone


def auc(scores: Any, labels: Any) -> float:
    """Probability that a random positive scores above a random negative (ties count half).

    >>> auc([0.9, 0.8, 0.1], [True, False, False])
    1.0
    >>> auc([0.5, 0.5], [True, False])
    0.5
    """
    s, y = np.asarray(scores, dtype=float), np.asarray(labels, dtype=bool)
    pos, neg = s[y], s[~y]
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def compose_all(name: str, cases: list[Any], qa: Any, ranker: Any) -> list[dict[str, Any]]:
    """Per question, retrieved by ``qa`` (``rag.load``): whether the default composer
    abstained, its type, and per composed sentence the composer's score, the ranker's logit
    and the key points it makes."""
    from evals.suite import makes_a_point

    from ..compose import ExtractiveComposer
    from ..question import premise, question_type
    from ..ranker import candidate_text

    composer = ExtractiveComposer(qa.embedder)
    out = []
    for c in cases:
        r = qa.search(c.question)
        comp = composer.run(c.question, r.passages, r.query_vector, r.context,
                            stored=r.sentence_vectors)
        logits = ranker.logits(c.question, [candidate_text(s.text) for s in comp.sentences])
        out.append({
            "set": name, "id": c.id, "answerable": c.answerable, "abstained": comp.abstained,
            "qtype": question_type(c.question), "premise": premise(c.question) is not None,
            "key_points": len(c.key_points),
            "sentences": [{"score": s.score, "logit": float(g),
                           "points": [i for i, kp in enumerate(c.key_points)
                                      if makes_a_point(s.text, [kp])]}
                          for s, g in zip(comp.sentences, logits, strict=True)],
        })
    print(f"{name}: {len(out)} questions composed", file=sys.stderr)
    return out


def _answered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if not r["abstained"] and r["sentences"]]


def _top(r: dict[str, Any]) -> dict[str, Any]:
    return max(r["sentences"], key=lambda s: s["score"])


def features(r: dict[str, Any], qtypes: list[str], with_logit: bool) -> list[float]:
    top = _top(r)
    v = [top["score"], *(float(r["qtype"] == q) for q in qtypes), float(r["premise"])]
    return [*v, top["logit"]] if with_logit else v


def _fit(x: np.ndarray, y: np.ndarray) -> Any:
    from .calibrate import fit_logistic

    w, b = fit_logistic(x, y.astype(float))
    return lambda z: 1 / (1 + np.exp(-(z @ w + b)))


def gate(rows: list[dict[str, Any]], groups: dict[str, str], with_logit: bool
         ) -> dict[str, Any]:
    """Probe 1 (module docstring): cross-validated on the calibration rows, then fitted on all
    of them and applied to the eval sets."""
    cal = _answered([r for r in rows if r["set"] == "cal"])
    qtypes = sorted({r["qtype"] for r in cal})
    x = np.array([features(r, qtypes, with_logit) for r in cal])
    y = np.array([r["answerable"] for r in cal])
    arts = sorted({groups[r["id"]] for r in cal})
    fold = {a: i % FOLDS for i, a in enumerate(arts)}
    oof = np.zeros(len(cal))
    for k in range(FOLDS):
        test = np.array([fold[groups[r["id"]]] == k for r in cal])
        oof[test] = _fit(x[~test], y[~test])(x[test])
    model = _fit(x, y)
    full = model(x)
    out: dict[str, Any] = {"calibration_answered": len(cal),
                           "answerable": int(y.sum()), "unanswerable": int((~y).sum()),
                           "cv_auc": round(auc(oof, y), 3),
                           "best_score_auc": round(auc(x[:, 0], y), 3), "budgets": {}}
    applied = {}  # eval set -> its rows, whether each abstained already, the gate's p by id
    for name in ("demo", "news"):
        rs = [r for r in rows if r["set"] == name]
        answered = _answered(rs)
        p = model(np.array([features(r, qtypes, with_logit) for r in answered])) if answered else []
        applied[name] = (rs, [r["abstained"] or not r["sentences"] for r in rs],
                         dict(zip((r["id"] for r in answered), p, strict=True)))
    for budget in BUDGETS:
        cut = float(np.quantile(oof[y], budget))
        row: dict[str, Any] = {"cv_caught": round(float((oof[~y] < cut).mean()), 3),
                               "cv_lost": round(float((oof[y] < cut).mean()), 3)}
        cut_full = float(np.quantile(full[y], budget))
        for name, (rs, now, prob) in applied.items():
            then = [a or prob.get(r["id"], 1.0) < cut_full for a, r in zip(now, rs, strict=True)]
            row[name] = {"abstention_recall": [_share(v, rs, False) for v in (now, then)],
                         "false_abstention": [_share(v, rs, True) for v in (now, then)]}
        out["budgets"][str(budget)] = row
    return out


def _share(abstained: list[bool], rows: list[dict[str, Any]], answerable: bool) -> float:
    """Share of the answerable (or unanswerable) ``rows`` that ``abstained``.

    >>> _share([True, False, True], [{"answerable": True}, {"answerable": True},
    ...                               {"answerable": False}], True)
    0.5
    """
    picked = [a for a, r in zip(abstained, rows, strict=True) if r["answerable"] == answerable]
    return round(sum(picked) / len(picked), 3)


def prune(rows: list[dict[str, Any]], tau: float | None) -> dict[str, float]:
    """Probe 2 (module docstring) on ``rows``: key points and unmatched sentences after
    pruning (``tau`` None: as composed; negative: the best sentence alone).

    >>> row = {"answerable": True, "abstained": False, "key_points": 2, "sentences": [
    ...     {"score": 0.9, "logit": 3.0, "points": [0]},
    ...     {"score": 0.8, "logit": 2.5, "points": [1]},
    ...     {"score": 0.7, "logit": -2.0, "points": []}]}
    >>> prune([row], None)
    {'key_points': 1.0, 'unmatched': 0.333, 'sentences': 3.0}
    >>> prune([row], 1.0)
    {'key_points': 1.0, 'unmatched': 0.0, 'sentences': 2.0}
    >>> prune([row], -1)
    {'key_points': 0.5, 'unmatched': 0.0, 'sentences': 1.0}
    """
    kp = unmatched = n = kept_n = 0.0
    for r in _answered(rows):
        if not r["answerable"]:
            continue
        top = _top(r)
        kept = [s for s in r["sentences"]
                if s is top or tau is None or tau >= 0 and s["logit"] >= top["logit"] - tau]
        kp += len({p for s in kept for p in s["points"]}) / r["key_points"]
        unmatched += sum(not s["points"] for s in kept)
        kept_n += len(kept)
        n += 1
    return {"key_points": round(kp / n, 3), "unmatched": round(unmatched / kept_n, 3),
            "sentences": round(kept_n / n, 2)}


class _Retrieved(NamedTuple):
    """One answerable question of probe 3 and its retrieved candidates."""

    question: str
    n_points: int
    texts: list[str]  # candidate_text: the sentence || the one before it
    points: list[set[int]]  # the key points each candidate makes
    cosines: np.ndarray  # each candidate sentence's similarity to the question


def first_choice(cases: list[Any], qa: Any, rankers: dict[str, Any]) -> dict[str, Any]:
    """Probe 3 (module docstring): per ranker, the share of the answerable questions whose
    best-scored retrieved sentence (``qa.search``) makes a key point, and the share of their
    key points the first two make; beside the share for which any retrieved sentence makes
    one. The same for the embedding model's similarity of question and sentence alone, and
    added to each ranker's logit with the weight its decision fitted (the ranked composer's
    score), when that decision was fitted with this embedding model."""
    from collections import OrderedDict

    from evals.suite import makes_a_point

    from ..compose import sentence_vectors
    from ..compose_ranked import candidates
    from ..ranker import candidate_text

    cache: OrderedDict[str, np.ndarray] = OrderedDict()
    rows = []
    for c in (c for c in cases if c.answerable):
        r = qa.search(c.question)
        cands = candidates([*r.passages, *r.context])
        texts = [candidate_text(x.text, x.previous.text if x.previous else "") for x in cands]
        points = [{i for i, kp in enumerate(c.key_points) if makes_a_point(x.text, [kp])}
                  for x in cands]
        # as the ranked composer computes it (RankedComposer._cosines): stored vectors, else
        # embedded; dot product with the question's vector
        cos = (sentence_vectors(qa.embedder, cache, [x.text for x in cands], r.sentence_vectors)
               @ np.asarray(r.query_vector)) if r.query_vector is not None else np.zeros(len(cands))
        rows.append(_Retrieved(c.question, len(c.key_points), texts, points, cos))
    out: dict[str, Any] = {"questions": len(rows), "candidates": round(
        float(np.mean([len(r.texts) for r in rows])), 1), "any_candidate": round(
        float(np.mean([any(r.points) for r in rows])), 3), "rankers": {}}
    embedding = getattr(qa.embedder, "name", None)
    for name, ranker in rankers.items():
        logits = [ranker.logits(r.question, r.texts) for r in rows]
        out["rankers"][name] = {"version": ranker.version, **_picks(rows, logits)}
        weight = ranker.cosine_weight(embedding)
        if weight is not None:
            out["rankers"][f"{name} + {weight:g} x cosine"] = {"version": ranker.version, **_picks(
                rows, [z + weight * r.cosines for z, r in zip(logits, rows, strict=True)])}
    out["rankers"]["embedding cosine"] = {"version": str(embedding),
                                          **_picks(rows, [r.cosines for r in rows])}
    print(f"first choice: {len(rows)} answerable questions scored", file=sys.stderr)
    return out


def _picks(rows: list[_Retrieved], scores: list[np.ndarray]) -> dict[str, float]:
    """Share of ``rows`` whose best-scored candidate makes a key point, and the mean share of
    their key points the two best make."""
    hit, two = [], []
    for r, z in zip(rows, scores, strict=True):
        order = np.argsort(-np.asarray(z), kind="stable")
        hit.append(bool(r.points[order[0]]))
        two.append(len(set().union(*(r.points[i] for i in order[:2]))) / r.n_points)
    return {"first_makes_a_point": round(float(np.mean(hit)), 3),
            "key_points_in_first_two": round(float(np.mean(two)), 3)}


def run(args: Any) -> dict[str, Any]:
    import rag
    from evals.suite import CASES, NEWS_CASES, NEWS_CORPUS, load_cases, stage_articles

    from ..ranker import AnswerRanker
    from . import composer_report

    ranker = AnswerRanker()
    others = {path: AnswerRanker(path) for path in args.ranker}
    cases, _, index = composer_report.staged_index(args)
    work = Path(args.work_dir)
    _, articles = composer_report.load_questions(Path(args.questions))
    groups = {cid: ids[0] for cid, ids in articles.items()}
    cal = rag.load(index)  # one handle (and embedder) for probes 1-2 and 3
    rows = compose_all("cal", cases, cal, ranker)
    rag.build_index(Path(args.corpus), work / "demo-index")
    rows += compose_all("demo", load_cases(CASES), rag.load(work / "demo-index"), ranker)
    news = stage_articles(NEWS_CORPUS, work / "news-corpus")
    rag.build_index(news, work / "news-index")
    rows += compose_all("news", load_cases(NEWS_CASES), rag.load(work / "news-index"), ranker)
    report = {
        "ranker": ranker.version,
        "gate": {"score_and_type": gate(rows, groups, False),
                 "score_type_and_ranker": gate(rows, groups, True)},
        "prune": {name: {str(t): prune([r for r in rows if r["set"] == name], t)
                         for t in (None, *TAUS, BEST_ONLY)} for name in ("cal", "demo", "news")},
        "first_choice": first_choice(cases, cal, {"shipped": ranker, **others}),
    }
    print(_tables(report))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report


def _tables(report: dict[str, Any]) -> str:
    lines = []
    for name, g in report["gate"].items():
        lines += [f"gate ({name.replace('_', ' ')}): calibration CV AUC {g['cv_auc']} "
                  f"(best score alone {g['best_score_auc']}); {g['calibration_answered']} "
                  f"answered, {g['unanswerable']} of them unanswerable",
                  "| budget | calibration (CV): caught / lost | demo recall, false abst. | "
                  "news recall, false abst. |", "| --- | --- | --- | --- |"]
        for b, row in g["budgets"].items():
            ev = [f"{row[s]['abstention_recall'][0]} -> {row[s]['abstention_recall'][1]}, "
                  f"{row[s]['false_abstention'][0]} -> {row[s]['false_abstention'][1]}"
                  for s in ("demo", "news")]
            lines.append(f"| {b} | {row['cv_caught']} / {row['cv_lost']} | {ev[0]} | {ev[1]} |")
    lines += ["prune by ranker (key points, unmatched, sentences an answer)",
              "| tau | calibration | demo | news |", "| --- | --- | --- | --- |"]
    for t in report["prune"]["cal"]:
        cells = [" / ".join(str(v) for v in report["prune"][s][t].values())
                 for s in ("cal", "demo", "news")]
        label = {"None": "as composed", str(BEST_ONLY): "best sentence only"}.get(t, t)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    fc = report["first_choice"]
    lines += [f"first choice over the retrieved sentences ({fc['questions']} answerable "
              f"calibration questions, {fc['candidates']} candidates each; any candidate makes "
              f"a key point for {fc['any_candidate']})",
              "| ranker | first makes a key point | key points in the first two |",
              "| --- | --- | --- |"]
    lines += [f"| {name} ({f['version']}) | {f['first_makes_a_point']} | "
              f"{f['key_points_in_first_two']} |" for name, f in fc["rankers"].items()]
    return "\n".join(lines)


def add_arguments(p: Any) -> None:
    from . import composer_report

    composer_report.add_arguments(p)
    p.add_argument("--corpus", default="corpus", help="the demo articles")
    p.add_argument("--ranker", action="append", default=[], metavar="DIR",
                   help="another ranker folder to compare in probe 3 (repeatable)")
