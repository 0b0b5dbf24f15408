"""Fit the support decision: the model's logit combined with the hard checks, and a threshold.

``python -m rag.train calibrate-support`` (also the last step of ``python -m rag.train
support``) reads only the ``calibration`` split:

1. sentence-level examples (``rag.train.support_data``, the same recipe as training: faithful
   and falsified summary sentences, synthetic negatives and positives) with their passage;
2. ``--cal-pairs`` news pairs: every sentence of the faithful and of the falsified summary
   against its whole article (read in windows; the best window counts), for the
   summary-level decision the eval report measures (a summary is accepted when every
   sentence is supported);
3. for every subset of the hard checks (``rag.verify.DECISION_FEATURES``), a logistic
   regression on [logit, checks] fitted to the sentence labels, and the threshold that
   maximises the mean of the summary-level balanced accuracy and the sentence-level
   *per-kind* balanced accuracy: every source of examples (faithful, falsified, each kind of
   synthetic error and rewrite) counts the same, so a rare kind of error (a swapped name, a
   changed number) weighs as much as the common ones - as every kind of error matters to a
   reader. The subset with the best mean wins (fewer checks on ties). So a hard check is kept
   only where the calibration split shows it adds accuracy.

The decision is written into the model's ``meta.json`` (the model file and its hash are
unchanged), then the model card, with the figures on the held-apart ``report`` split and on
the labelled claim set (measured, never tuned on).
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..crossencoder import model_dir
from ..files import write_atomic
from .news import DEFAULT_DATA, read_articles

CHECKS = ("num_missing", "name_missing", "negation_flip", "low_coverage", "lexical")
L2 = 1e-3  # ridge penalty of the logistic regression (features are 0/1 flags and a logit)


def add_arguments(p: Any, standalone: bool = True) -> None:
    """Options of the calibration; ``standalone`` adds those the training command has too."""
    p.add_argument("--cal-pairs", type=int, default=300,
                   help="news pairs of the calibration split for the summary-level decision")
    p.add_argument("--report-pairs", type=int, default=300,
                   help="held-apart news pairs measured for the model card (0 to skip)")
    p.add_argument("--model-dir", default=None, help="model folder (default rag/models/support)")
    if standalone:
        p.add_argument("--data", default=str(DEFAULT_DATA))
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--cal-articles", type=int, default=500)


def fit_logistic(x: np.ndarray, y: np.ndarray, iters: int = 50) -> tuple[np.ndarray, float]:
    """Newton's method with a small ridge penalty; classes weighted to count the same."""
    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    w = np.zeros(d + 1)
    pos = max(1.0, float(y.sum()))
    neg = max(1.0, float(n - y.sum()))
    sw = np.where(y > 0, n / (2 * pos), n / (2 * neg))
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(xb @ w, -40, 40)))
        g = xb.T @ (sw * (p - y)) / n + L2 * np.r_[w[:-1], 0]
        h = (xb.T * (sw * p * (1 - p))) @ xb / n + L2 * np.eye(d + 1)
        step = np.linalg.solve(h, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


def _ba(pos_ok: np.ndarray, neg_ok: np.ndarray) -> float:
    tpr = pos_ok.mean() if len(pos_ok) else 0.0
    tnr = 1 - neg_ok.mean() if len(neg_ok) else 0.0
    return float((tpr + tnr) / 2)


class _Table:
    """Features of (sentence, window) rows, grouped by sentence and by summary."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []
        self.sentence_of_row: list[int] = []
        self.summary_of_sentence: list[int] = []
        self.summary_faithful: list[bool] = []

    def arrays(self, names: tuple[str, ...]) -> np.ndarray:
        return np.asarray([[r[f] for f in names] for r in self.rows], dtype=np.float64)


def _summary_table(scorer: Any, pairs: list[Any]) -> _Table:
    from ..verify import decision_features

    t = _Table()
    items: list[tuple[str, str, int]] = []  # (sentence, window text, sentence index)
    for a in pairs:
        for kind, sents in (("faithful", a.right), ("hallucinated", a.hallucinated)):
            t.summary_faithful.append(kind == "faithful")
            for s in sents:
                t.summary_of_sentence.append(len(t.summary_faithful) - 1)
                items += [(s, a.text[x:y], len(t.summary_of_sentence) - 1)
                          for x, y in scorer.windows(s, a.text)]
    logits = scorer.logits([(s, w) for s, w, _ in items])
    for (s, w, k), v in zip(items, logits, strict=True):
        feats, _, _ = decision_features(float(v), scorer.lexical, s, w)
        t.rows.append(feats)
        t.sentence_of_row.append(k)
    return t


def _summary_ba(t: _Table, p_rows: np.ndarray, threshold: float) -> float:
    n_sent = len(t.summary_of_sentence)
    best = np.full(n_sent, -1.0)
    np.maximum.at(best, np.asarray(t.sentence_of_row), p_rows)
    worst = np.full(len(t.summary_faithful), 2.0)
    np.minimum.at(worst, np.asarray(t.summary_of_sentence), best)
    accepted = worst >= threshold
    faithful = np.asarray(t.summary_faithful)
    return _ba(accepted[faithful], accepted[~faithful])


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-np.clip(z, -40, 40)))


def run(args: Any) -> dict[str, Any]:
    from ..verify import SupportScorer, decision_features
    from .support import WORK_DIR
    from .support_data import Example, build_examples

    t0 = time.perf_counter()
    folder = Path(args.model_dir) if getattr(args, "model_dir", None) else (
        Path(args.out) if getattr(args, "out", None) else model_dir("support"))
    meta_file = folder / "meta.json"
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    scorer = SupportScorer(folder, cache_size=1 << 20)

    work_dir = getattr(args, "work_dir", None)  # set when called by the training command
    cached = Path(work_dir or WORK_DIR) / "calibration.jsonl"
    window = scorer.window.get("max_chars") if scorer.window["mode"] == "claim" else None
    if work_dir and cached.exists():  # written by this training run
        examples = [Example(**json.loads(line)) for line in cached.read_text().splitlines()]
    else:
        examples = build_examples("calibration", args.cal_articles, seed=args.seed + 1,
                                  path=args.data, window=window,
                                  contrast_share=meta.get("training", {}).get("contrast_share",
                                                                              0.0))
    print(f"calibration: {len(examples)} sentence examples", file=sys.stderr)
    logits = scorer.logits([(e.claim, e.passage) for e in examples])
    ex_rows = [decision_features(float(v), scorer.lexical, e.claim, e.passage)[0]
               for e, v in zip(examples, logits, strict=True)]
    y = np.asarray([e.label for e in examples], dtype=np.float64)
    sources = sorted({e.source for e in examples})
    src = np.asarray([sources.index(e.source) for e in examples])

    def per_kind_ba(ok: np.ndarray) -> float:
        """Mean over sources of their accuracy, positives' and negatives' means averaged."""
        pos, neg = [], []
        for k in range(len(sources)):
            m = src == k
            if y[m][0] > 0:
                pos.append(ok[m].mean())
            else:
                neg.append((~ok[m]).mean())
        return float((np.mean(pos) + np.mean(neg)) / 2)
    pairs = list(read_articles(args.data, "calibration", args.cal_pairs))
    print(f"calibration: {len(pairs)} news pairs (summary level)", file=sys.stderr)
    table = _summary_table(scorer, pairs)

    grid = np.linspace(0.02, 0.98, 97)
    candidates = []
    for k in range(len(CHECKS) + 1):
        for subset in itertools.combinations(CHECKS, k):
            names = ("logit", *subset)
            x = np.asarray([[r[f] for f in names] for r in ex_rows])
            w, b = fit_logistic(x, y)
            if w[0] <= 0:
                continue
            p_ex = _sigmoid(x @ w + b)
            p_rows = _sigmoid(table.arrays(names) @ w + b)
            scores = []
            for t in grid:
                ok = p_ex >= t
                sent_ba = per_kind_ba(ok)
                summ_ba = _summary_ba(table, p_rows, t)
                scores.append(((sent_ba + summ_ba) / 2, sent_ba, summ_ba, float(t)))
            best = max(scores)
            candidates.append((best[0], -len(subset), names, w, b, best))
    candidates.sort(key=lambda c: (c[0], c[1]), reverse=True)
    score, _, names, w, b, (mean_ba, sent_ba, summ_ba, threshold) = candidates[0]
    by_subset = {"+".join(c[2]): round(c[0], 4) for c in candidates}
    decision = {
        "features": list(names),
        "weights": [round(float(v), 6) for v in w],
        "bias": round(b, 6),
        "threshold": round(threshold, 4),
        "calibration": {
            "sentence_examples": len(examples),
            "news_pairs": len(pairs),
            "sentence_per_kind_balanced_accuracy": round(sent_ba, 4),
            "summary_balanced_accuracy": round(summ_ba, 4),
            "criterion_by_feature_set": by_subset,
        },
    }
    meta["decision"] = decision
    write_atomic(meta_file, json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
    print(f"decision: {json.dumps(decision)}", file=sys.stderr)

    report: dict[str, Any] = {}
    if args.report_pairs:
        from evals.scorer_report import scorer_balanced_accuracy

        checker = SupportScorer(folder)
        report["news_report"] = scorer_balanced_accuracy(n_pairs=args.report_pairs,
                                                         scorer=checker, path=args.data)
        from evals.claims import evaluate_claims

        report["claims"] = evaluate_claims(checker)
    from .card import write_card

    write_card(folder, meta, report)
    return {"decision": decision, "report": report,
            "seconds": round(time.perf_counter() - t0, 1)}
