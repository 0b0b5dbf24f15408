"""Fit the word-overlap scorer's (``rag.lexical``) logistic regression and threshold.

Run: ``.venv/bin/python -m evals.calibrate_scorer [--pairs 600] [--report-pairs 600]
[--embedder all-MiniLM-L6-v2 --embed-pairs 150] [--dry-run]`` (about 2 min with defaults).

Steps, all deterministic:

1. Read ``--pairs`` pairs of the ``calibration`` split (split by a hash of the id, see
   ``evals.scorer_report``); never a pair of the ``report`` split.
2. Features (``SupportScorer.analyse``) of every summary sentence against its whole article
   (the scorer picks the best window of article sentences itself). Sentence labels:

   - faithful-summary sentences are positives;
   - falsified-summary sentences are negatives, except those that also appear nearly verbatim
     in the faithful summary (dropped). A falsified summary usually keeps some true
     sentences, so after a first fit only the lowest-scoring sentence of each falsified
     summary stays a negative and the model is refit (a multiple-instance step: the summary
     is false because of *some* sentence);
   - "mismatch" negatives: faithful-summary sentences against the most similar *other*
     article of the split - the wrong-passage citation the live pipeline must reject. They
     matter because the falsified summaries in this data are written in longer sentences
     than the faithful ones: without them, the fit learns "short sentences are supported"
     and accepts a short sentence citing an unrelated passage.
3. Newton logistic regression with a small L2 penalty (numpy only); positives, falsified
   and mismatch negatives get total weights 1, 1 - m and m (``--mismatch-weight`` m). Each
   weight's sign is constrained (``rag.lexical.FEATURE_SIGNS``): a feature whose weight
   comes out the wrong way is dropped and the rest refitted.
4. The threshold maximises summary-level balanced accuracy on the calibration pairs (a
   summary is accepted when every sentence scores at least the threshold and no hard check
   fails).
5. The same rates on ``--report-pairs`` pairs of the held-apart ``report`` split, plus the
   share of mismatch sentences rejected there.

With ``--embedder`` a second model that adds the embedding-similarity feature is fitted on
the first ``--embed-pairs`` pairs of each split (embedding whole articles is slow: about
20 min for the default 150 per split on 2 busy cores) and stored under the embedder's name;
other models already in the file are kept.

It leaves out: cross-validated model selection, and any tuning on the reporting split.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from rag.lexical import FEATURE_SIGNS, FEATURES, LEXICAL_FEATURES, default_params
from rag.lexical import LexicalScorer as SupportScorer
from rag.text import content_stems

from .scorer_report import DEFAULT_DATA, Pair, balanced_accuracy, load_pairs

PARAMS_PATH = Path(__file__).resolve().parent.parent / "rag" / "scorer_params.json"


@dataclass(frozen=True)
class Summary:
    """One summary's sentences as feature rows. ``kind``: faithful, hallucinated, mismatch."""

    pair_id: str
    kind: str
    x: np.ndarray  # (n_sentences, n_features)
    hard: np.ndarray  # (n_sentences,) bool: a hard check failed
    duplicate: np.ndarray  # (n_sentences,) bool: also (nearly) in the faithful summary

    @property
    def faithful(self) -> bool:
        return self.kind == "faithful"


def near_duplicate(sentence: str, others: list[str], min_jaccard: float = 0.8) -> bool:
    """True when ``sentence`` has (almost) the same content stems as one of ``others``."""
    a = set(content_stems(sentence))
    for o in others:
        b = set(content_stems(o))
        if a == b or (a | b and len(a & b) / len(a | b) >= min_jaccard):
            return True
    return False


def _summary(
    pair_id: str,
    kind: str,
    sents: list[str],
    article: str,
    scorer: SupportScorer,
    features: tuple[str, ...],
    faithful_sents: list[str],
) -> Summary:
    rows, hard, dup = [], [], []
    for s in sents:
        feats, ev = scorer.analyse(s, article)
        rows.append([feats[f] for f in features])
        hard.append(bool(scorer.hard_failures(feats, ev)))
        dup.append(kind == "hallucinated" and near_duplicate(s, faithful_sents))
    return Summary(
        pair_id,
        kind,
        np.asarray(rows, dtype=np.float64).reshape(len(sents), len(features)),
        np.asarray(hard, dtype=bool),
        np.asarray(dup, dtype=bool),
    )


def most_similar_other(pairs: list[Pair], scorer: SupportScorer) -> list[int]:
    """For each pair, the index of the other pair whose article best matches its faithful
    summary (shared content stems over sqrt of the article's vocabulary)."""
    vocab = [scorer._passage(p.article).stems for p in pairs]
    out = []
    for i, p in enumerate(pairs):
        q = {st for s in p.right for st in content_stems(s)}
        best = max(
            (j for j in range(len(pairs)) if j != i),
            key=lambda j: len(q & vocab[j]) / (1 + len(vocab[j])) ** 0.5,
            default=i,
        )
        out.append(best)
    return out


def featurise(
    pairs: list[Pair], scorer: SupportScorer, features: tuple[str, ...], mismatch: bool = True
) -> list[Summary]:
    """Faithful and hallucinated summaries of every pair (and mismatch summaries)."""
    out = []
    for p in pairs:
        scorer.warm([*p.right, *p.hallucinated], [p.article])
        out.append(_summary(p.id, "faithful", p.right, p.article, scorer, features, p.right))
        out.append(
            _summary(p.id, "hallucinated", p.hallucinated, p.article, scorer, features, p.right)
        )
    if mismatch and len(pairs) > 1:
        for p, j in zip(pairs, most_similar_other(pairs, scorer), strict=True):
            out.append(_summary(p.id, "mismatch", p.right, pairs[j].article, scorer, features, []))
    return out


# --------------------------------------------------------------------------------------------
# Logistic regression


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    l2: float = 1.0,
    signs: np.ndarray | None = None,
    sample_weight: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """Weights and bias of an L2-penalised logistic regression (bias unpenalised; Newton's
    method). ``sample_weight`` defaults to equal total weight per class. ``signs`` (+1, -1
    or 0 per feature) constrains the direction of each weight: while some fitted weight has
    the wrong sign, the worst offender is dropped (weight 0) and the rest refitted, so no
    feature can argue against what it measures."""
    d = x.shape[1]
    if sample_weight is None:
        pos = y.sum()
        sample_weight = np.where(
            y == 1, len(y) / (2 * max(pos, 1)), len(y) / (2 * max(len(y) - pos, 1))
        )
    signs = np.zeros(d) if signs is None else np.asarray(signs, dtype=np.float64)
    active = np.ones(d, dtype=bool)
    while True:
        w = np.zeros(d)
        w_act, b = _newton(x[:, active], y, sample_weight, l2)
        w[active] = w_act
        agreement = np.where(active, signs * w, 0.0)
        if agreement.min() >= 0:
            return w, b
        active[int(agreement.argmin())] = False


def _newton(
    x: np.ndarray, y: np.ndarray, sw: np.ndarray, l2: float, iters: int = 50
) -> tuple[np.ndarray, float]:
    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    w = np.zeros(d + 1)
    reg = np.full(d + 1, l2)
    reg[-1] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w, -40, 40)))
        grad = xb.T @ (sw * (p - y)) + reg * w
        hess = (xb * (sw * p * (1 - p))[:, None]).T @ xb + np.diag(reg) + 1e-9 * np.eye(d + 1)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


def _probs(x: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x @ w + b, -40, 40)))


def training_set(
    summaries: list[Summary],
    w: np.ndarray | None = None,
    b: float = 0.0,
    mismatch_weight: float = 0.5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sentence rows, labels and sample weights.

    Without a model (``w``) every non-duplicate falsified sentence is a negative; with one,
    only the lowest-scoring sentence of each falsified summary. Total weights: positives 1,
    falsified ``1 - mismatch_weight``, mismatch ``mismatch_weight`` (scaled to mean 1)."""
    rows: dict[str, list[np.ndarray]] = {"faithful": [], "hallucinated": [], "mismatch": []}
    for s in summaries:
        x = s.x
        if s.kind == "hallucinated":
            x = x[~s.duplicate]
            if w is not None and len(x):
                x = x[np.argsort(_probs(x, w, b))[:1]]
        if len(x):
            rows[s.kind].append(x)
    totals = {"faithful": 1.0, "hallucinated": 1.0 - mismatch_weight, "mismatch": mismatch_weight}
    xs, ys, ws = [], [], []
    for kind, parts in rows.items():
        if not parts or totals[kind] <= 0:
            continue
        x = np.vstack(parts)
        xs.append(x)
        ys.append(np.full(len(x), 1.0 if kind == "faithful" else 0.0))
        ws.append(np.full(len(x), totals[kind] / len(x)))
    weight = np.concatenate(ws)
    return np.vstack(xs), np.concatenate(ys), weight * len(weight) / weight.sum()


def fit(
    summaries: list[Summary],
    features: tuple[str, ...],
    l2: float = 1.0,
    mil_rounds: int = 2,
    mismatch_weight: float = 0.5,
) -> tuple[np.ndarray, float, float, dict]:
    """Sign-constrained logistic regression on sentences, refit ``mil_rounds`` times on the
    lowest-scoring falsified sentences; then the summary-level threshold."""
    signs = np.array([FEATURE_SIGNS.get(f, 0) for f in features], dtype=np.float64)
    w: np.ndarray | None = None
    b = 0.0
    for _ in range(mil_rounds + 1):
        x, y, sw = training_set(summaries, w, b, mismatch_weight)
        w, b = fit_logistic(x, y, l2, signs, sw)
    assert w is not None
    t, stats = pick_threshold(summaries, w, b)
    stats["n_training_sentences"] = len(y)
    return w, b, t, stats


# --------------------------------------------------------------------------------------------
# Summary-level decisions


def summary_scores(summaries: list[Summary], w: np.ndarray, b: float) -> np.ndarray:
    """Per summary: the lowest sentence score, or -1 when a hard check failed."""
    out = []
    for s in summaries:
        if not len(s.x):
            out.append(1.0)
        elif s.hard.any():
            out.append(-1.0)
        else:
            out.append(float(_probs(s.x, w, b).min()))
    return np.asarray(out)


def _pairs_only(summaries: list[Summary]) -> list[Summary]:
    return [s for s in summaries if s.kind != "mismatch"]


def pick_threshold(summaries: list[Summary], w: np.ndarray, b: float) -> tuple[float, dict]:
    """Threshold maximising summary-level balanced accuracy (midpoint of the best gap)."""
    summaries = _pairs_only(summaries)
    scores = summary_scores(summaries, w, b)
    faithful = np.array([s.faithful for s in summaries])
    cands = np.unique(np.clip(scores, 0.0, 1.0))
    cuts = np.concatenate([[0.0], (cands[:-1] + cands[1:]) / 2, [1.0]])
    best_t, best_ba = 0.5, -1.0
    for t in cuts:
        acc = scores >= t
        ba = (acc[faithful].mean() + (~acc[~faithful]).mean()) / 2
        if ba > best_ba + 1e-12:
            best_t, best_ba = float(t), float(ba)
    return best_t, report_summaries(summaries, w, b, best_t)


def report_summaries(
    summaries: list[Summary], w: np.ndarray, b: float, t: float, hard_checks: bool = True
) -> dict:
    """Summary-level rates at threshold ``t`` (optionally ignoring the hard checks), and the
    share of mismatch sentences rejected."""
    if not hard_checks:
        summaries = [replace(s, hard=np.zeros_like(s.hard)) for s in summaries]
    pairs = _pairs_only(summaries)
    scores = summary_scores(pairs, w, b)
    faithful = np.array([s.faithful for s in pairs])
    acc = scores >= t
    out = balanced_accuracy(list(acc[faithful]), list(acc[~faithful]))
    mism = [s for s in summaries if s.kind == "mismatch" and len(s.x)]
    if mism:
        rejected = np.concatenate([(_probs(s.x, w, b) < t) | s.hard for s in mism])
        out["mismatch_sentences_rejected"] = round(float(rejected.mean()), 4)
    return out


# --------------------------------------------------------------------------------------------
# Command line


def calibrate_model(
    cal: list[Summary], rep: list[Summary], features: tuple[str, ...], args: argparse.Namespace
) -> dict:
    """Fit on ``cal``, report on ``cal`` and ``rep``: the params entry for one model."""
    w, b, t, cal_stats = fit(cal, features, args.l2, args.mil_rounds, args.mismatch_weight)
    n_pairs = sum(s.kind == "faithful" for s in cal)
    return {
        "features": list(features),
        "weights": [round(float(v), 5) for v in w],
        "bias": round(b, 5),
        "threshold": round(t, 5),
        "calibration": {
            "split": "calibration",
            "n_pairs": n_pairs,
            "n_sentences": int(sum(len(s.x) for s in _pairs_only(cal))),
            **cal_stats,
            **report_summaries(cal, w, b, t),
            "without_hard_checks": report_summaries(cal, w, b, t, hard_checks=False),
        },
        "report": {
            "split": "report",
            "n_pairs": sum(s.kind == "faithful" for s in rep),
            "n_sentences": int(sum(len(s.x) for s in _pairs_only(rep))),
            **report_summaries(rep, w, b, t),
            "without_hard_checks": report_summaries(rep, w, b, t, hard_checks=False),
        },
        "fit": {
            "l2": args.l2,
            "mil_rounds": args.mil_rounds,
            "mismatch_weight": args.mismatch_weight,
        },
    }


def _print_model(name: str, model: dict) -> None:
    weights = dict(zip(model["features"], model["weights"], strict=True))
    print(f"{name}: weights {json.dumps(weights)}")
    print(f"  bias {model['bias']}, threshold {model['threshold']}")
    print(f"  calibration {json.dumps(model['calibration'])}")
    print(f"  report      {json.dumps(model['report'])}")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description="Calibrate rag.lexical.LexicalScorer.")
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--pairs", type=int, default=600, help="calibration pairs (default 600)")
    ap.add_argument("--report-pairs", type=int, default=600, help="reporting pairs to score")
    ap.add_argument("--l2", type=float, default=1.0, help="L2 penalty (default 1)")
    ap.add_argument("--mil-rounds", type=int, default=2, help="multiple-instance refits")
    ap.add_argument(
        "--mismatch-weight", type=float, default=0.5, help="share of negative weight (0..1)"
    )
    ap.add_argument("--embedder", default=None, help="also fit a model with this embedder")
    ap.add_argument("--embed-pairs", type=int, default=150, help="pairs per split to embed")
    ap.add_argument("--out", default=str(PARAMS_PATH))
    ap.add_argument("--dry-run", action="store_true", help="do not write the params file")
    args = ap.parse_args(argv)
    if not 0.0 <= args.mismatch_weight < 1.0:
        ap.error("--mismatch-weight must be within [0, 1)")

    t0 = time.perf_counter()
    base = default_params()
    out_path = Path(args.out)
    params = json.loads(out_path.read_text(encoding="utf-8")) if out_path.exists() else base
    params.setdefault("models", {})
    for key in ("version", "hard_fail", "negation_coverage", "min_coverage"):
        params[key] = base[key]
    params["data"] = Path(args.data).name

    cal = list(load_pairs(args.data, "calibration", args.pairs))
    rep = list(load_pairs(args.data, "report", args.report_pairs))
    print(f"calibration pairs {len(cal)}, report pairs {len(rep)} (kept apart by id hash)")
    # Only the features and hard checks of this scorer are used, not its weights; its cache
    # holds every article so that mismatch pairs reuse the analysis.
    scorer = SupportScorer(params=base, cache_size=len(cal) + len(rep) + 8)
    cal_s = featurise(cal, scorer, LEXICAL_FEATURES)
    rep_s = featurise(rep, scorer, LEXICAL_FEATURES)
    print(f"features in {time.perf_counter() - t0:.1f} s")
    lexical = calibrate_model(cal_s, rep_s, LEXICAL_FEATURES, args)
    params["models"]["lexical"] = lexical
    _print_model("lexical", lexical)
    results: dict[str, Any] = {"lexical": lexical}

    if args.embedder:
        from rag.embed import get_embedder

        embedder = get_embedder(args.embedder)
        lexical_base = base["models"]["lexical"]
        emb_params = {
            **base,
            "models": {
                "lexical": lexical_base,
                embedder.name: {
                    **lexical_base,
                    "features": list(FEATURES),
                    "weights": [*lexical_base["weights"], 0.0],
                },
            },
        }
        n = args.embed_pairs
        emb_scorer = SupportScorer(embedder=embedder, params=emb_params, cache_size=2 * n + 8)
        t1 = time.perf_counter()
        cal_e = featurise(cal[:n], emb_scorer, FEATURES)
        rep_e = featurise(rep[:n], emb_scorer, FEATURES)
        model = calibrate_model(cal_e, rep_e, FEATURES, args)
        model["seconds"] = round(time.perf_counter() - t1, 1)
        params["models"][embedder.name] = model
        results[embedder.name] = model
        _print_model(embedder.name, model)

    results["seconds"] = round(time.perf_counter() - t0, 1)
    if not args.dry_run:
        out_path.write_text(json.dumps(params, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {out_path}")
    print(f"total {results['seconds']} s")
    return results


if __name__ == "__main__":
    main()
