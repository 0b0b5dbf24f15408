"""Fit the abstention decision of the answer ranker on the calibration split.

``python -m rag.train calibrate-ranker`` (also the last step of ``python -m rag.train
ranker``). Questions of the calibration split (``ranker_data.calibration_questions``) are
scored against every sentence of their article (answerable), against the same sentences with
the answer removed, and against another article's sentences (both unanswerable), plus
questions asking for a number or a date their article's sentences do not give. The feature
is the ranker's best logit; the decision is ``p = sigmoid(weight * best + bias[type])`` with
one bias per question type (``rag.question.question_type`` of the question, as at run time),
fitted by logistic regression, and the threshold on ``p`` under which only
``FALSE_ABSTENTION`` of the answerable calibration questions fall (the issue's targets weigh
a false abstention heavier than a missed one: at most 5% against 90% caught). The margin
within which the composer adds a further sentence is fitted here too (``MARGIN_FALSE_ADD``).

The result goes into ``rag/models/ranker/meta.json`` (``decision``) with its figures.
"""

from __future__ import annotations

import json
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from ..crossencoder import model_dir
from ..files import write_atomic
from ..question import QUESTION_TYPES, question_type
from ..ranker import AnswerRanker
from ..settings import DEFAULT_MODEL
from .calibrate import fit_logistic
from .finetune import balanced_accuracy
from .news import DEFAULT_DATA
from .ranker_data import CalQuestion, calibration_questions

MIN_TYPE_QUESTIONS = 20  # a type with fewer calibration questions shares the "other" bias
# The composer adds a further sentence only within ``margin`` logits of the best; the margin is
# the gap between best and second candidate that this share of answerable calibration
# questions fall under (so about this share would get a second sentence that does not answer).
MARGIN_FALSE_ADD = 0.10
# Share of answerable calibration questions the threshold may send to abstention.
FALSE_ABSTENTION = 0.01


def _with_offtopic(qs: list[CalQuestion], seed: int) -> list[CalQuestion]:
    rng = random.Random(seed)
    by_article: dict[str, tuple[str, ...]] = {}
    for q in qs:
        if q.answerable:
            by_article[q.article_id] = q.candidates
    ids = sorted(by_article)
    out = list(qs)
    for q in qs:
        if q.answerable and rng.random() < 0.5 and len(ids) > 1:
            other = rng.choice([i for i in ids if i != q.article_id])
            out.append(CalQuestion(q.question, q.qtype, by_article[other], False, "offtopic",
                                   other))
    return out


def run(args: Any) -> dict[str, Any]:
    folder = Path(args.model) if getattr(args, "model", None) else model_dir("ranker")
    qs = _with_offtopic(calibration_questions(args.cal_questions_articles, seed=args.seed + 7,
                                              path=args.data), args.seed)
    ranker = AnswerRanker(folder)
    raw = [ranker.logits(q.question, list(q.candidates)) if q.candidates
           else np.array([-10.0]) for q in qs]
    cos = _cosines(qs, args.embedding_model)
    # First pass: how much the embedding similarity adds to the ranker's logit, on the best
    # candidate of each question by each measure (question level, classes weighted equally).
    y = np.array([q.answerable for q in qs], dtype=float)
    xz = np.c_[[z.max() for z in raw], [c.max() for c in cos]]
    (w_z, w_c), _ = fit_logistic(xz, y)
    cos_weight = float(w_c / w_z) if w_z > 0 else 0.0
    # The composer ranks candidates by logit + cos_weight * cosine; the decision reads the best.
    scores = [z + cos_weight * c for z, c in zip(raw, cos, strict=True)]
    best = np.array([float(z.max()) for z in scores])
    # Gap between the best and the second candidate of answerable questions (one sentence
    # answers each generated question, so the second is a non-answer, give or take noise).
    gaps = np.array([float(np.sort(z)[-1] - np.sort(z)[-2]) for q, z in zip(qs, scores,
                     strict=True) if q.answerable and len(z) > 1])
    types = [question_type(q.question) for q in qs]
    counts = Counter(types)
    kept = [t for t in QUESTION_TYPES if counts[t] >= MIN_TYPE_QUESTIONS and t != "other"]
    cols = ["best", *[f"type:{t}" for t in kept]]
    x = np.zeros((len(qs), len(cols)))
    x[:, 0] = best
    for i, t in enumerate(types):
        if t in kept:
            x[i, 1 + kept.index(t)] = 1.0
    w, b = fit_logistic(x, y)
    p = 1 / (1 + np.exp(-(x @ w + b)))
    # The threshold lets at most FALSE_ABSTENTION of the answerable calibration questions
    # abstain: a wrong "the articles don't say" hides an answer the user needs, and real
    # questions are worded further from their answer than generated ones, so they score lower.
    threshold = float(np.quantile(p[y == 1], FALSE_ABSTENTION))
    ok = p >= threshold
    bias = {"other": round(float(b), 4)}
    for t in QUESTION_TYPES:
        if t in kept:
            bias[t] = round(float(b + w[1 + kept.index(t)]), 4)
    sources = Counter(q.source for q in qs)
    report = {
        "questions": len(qs),
        "by_source": dict(sources),
        "by_type": dict(counts),
        "balanced_accuracy": round(balanced_accuracy(y, ok), 4),
        "answer_recall": round(float(ok[y == 1].mean()), 4),
        "abstain_recall": round(float((~ok)[y == 0].mean()), 4),
        "abstain_recall_by_source": {
            s: round(float((~ok)[[q.source == s for q in qs]].mean()), 4)
            for s in sources if not any(q.answerable for q in qs if q.source == s)},
    }
    margin = float(np.quantile(gaps, MARGIN_FALSE_ADD)) if len(gaps) else 3.0
    report["margin_false_add_share"] = MARGIN_FALSE_ADD
    report["cosine_weight_fitted"] = round(cos_weight, 4)
    decision = {"weight": round(float(w[0]), 4), "bias": bias, "margin": round(margin, 3),
                "cosine_weight": round(cos_weight, 4), "embedding_model": args.embedding_model,
                "cosine_mean": round(float(np.mean([c.max() for c in cos])), 4),
                "threshold": round(threshold, 4), "calibration": report}
    meta_file = folder / "meta.json"
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    meta["decision"] = decision
    write_atomic(meta_file, json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps(decision, indent=1), file=sys.stderr)
    return decision


def _cosines(qs: list[CalQuestion], model: str) -> list[np.ndarray]:
    """Cosine similarity of each question to each of its candidate sentences (the sentence
    part of the candidate text), embedded with ``model``, each distinct text once, by the
    embedder that embeds sentences and questions for an index (``rag.embed.index_embedder``:
    for all-MiniLM-L6-v2 its fp32 ONNX twin, as at answer time, 2.3x the speed of
    sentence-transformers on sentences and without importing torch)."""
    from ..embed import index_embedder
    from ..ranker import CONTEXT_SEP

    emb = index_embedder(model)
    sentences = sorted({c.split(CONTEXT_SEP)[0] for q in qs for c in q.candidates})
    print(f"embedding {len(sentences)} sentences and {len(qs)} questions ...", file=sys.stderr)
    vec = dict(zip(sentences, emb.embed(sentences, batch_size=64), strict=True))
    questions = sorted({q.question for q in qs})
    qvec = dict(zip(questions, emb.embed(questions, batch_size=64), strict=True))
    out = []
    for q in qs:
        if not q.candidates:
            out.append(np.array([0.0]))
            continue
        m = np.stack([vec[c.split(CONTEXT_SEP)[0]] for c in q.candidates])
        out.append(m @ qvec[q.question])
    return out


def add_arguments(p: Any, standalone: bool = True) -> None:
    if standalone:
        p.add_argument("--data", default=str(DEFAULT_DATA), help="the shared news data")
        p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cal-questions-articles", type=int, default=250,
                   help="calibration-split articles to draw abstention questions from")
    p.add_argument("--model", default=None, help="ranker folder (default rag/models/ranker)")
    p.add_argument("--embedding-model", default=DEFAULT_MODEL,
                   help="embedding model whose question-sentence similarity joins the decision")
