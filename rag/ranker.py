"""The answer ranker: how well does a sentence answer a question?

A cross-encoder trained here (``python -m rag.train ranker``; model, card and calibrated
abstention decision in ``rag/models/ranker/``) reads ``(question, sentence || the sentence
before it)`` and gives a logit for "this sentence answers the question". It was trained on
questions generated from news articles, with the same article's other sentences as hard
negatives and questions asking for what the sentence does not hold ("How many ...?" of a
sentence with no number) as negatives, so a high logit means *answers*, not *is about*.

``AnswerRanker.logits(question, candidates)`` scores candidates in one batch (cached per pair).
The composer scores a candidate ``logit + c * cosine``, where ``cosine`` is the embedding
model's similarity of question and sentence (the all-MiniLM-L6-v2 bi-encoder was trained on
question-answer pairs and paraphrases, and it carries over to reworded questions better than
the ranker's synthetic questions do); ``AnswerRanker.answerable(question_type, best)`` is the
calibrated abstention decision ``p = sigmoid(a * best + b[question_type])``, answerable when
``p >= threshold``. ``c``, ``a``, ``b`` and the threshold are fitted on the calibration split
(``rag.train.abstain``), never on ``corpus/``.

>>> r = AnswerRanker()
>>> z = r.logits("How many missiles did the ships fire?", [
...     "The ships fired 59 cruise missiles at the air base.",
...     "The ships sailed from the Mediterranean port last spring."])
>>> bool(z[0] > z[1])
True

Nothing here imports torch; the model runs on onnxruntime, loaded on first use.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from .crossencoder import CrossEncoder, model_dir

__all__ = ["Ranker", "AnswerRanker", "CONTEXT_SEP", "candidate_text"]

MODEL = "ranker"
CONTEXT_SEP = " || "  # as in training (rag.train.ranker_data)
CACHE_SIZE = 50_000  # (question, candidate) logits kept


def candidate_text(sentence: str, previous: str = "") -> str:
    """What the ranker reads for a sentence: the sentence, then the one before it."""
    return sentence + (CONTEXT_SEP + previous if previous else "")


class Ranker(Protocol):
    """Scores how well candidates answer a question, and decides whether the best answers."""

    @property
    def threshold(self) -> float: ...

    def logits(self, question: str, candidates: Sequence[str]) -> np.ndarray: ...

    def answerable(self, question_type: str, best_logit: float) -> float: ...

    def cosine_weight(self, embedding_model: str | None) -> float | None: ...

    def neutral_cosine(self) -> float: ...


class AnswerRanker:
    """The trained ranker (see the module docstring). Thread-safe."""

    def __init__(self, path: str | Path | None = None, threads: int = 2) -> None:
        self.encoder = CrossEncoder(path or model_dir(MODEL), threads=threads)  # two pairs at once
        self._cache: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def version(self) -> str:
        return str(self.encoder.meta.get("version", ""))

    def logits(self, question: str, candidates: Sequence[str]) -> np.ndarray:
        out = np.zeros(len(candidates), dtype=np.float32)
        todo: list[int] = []
        with self._lock:
            for i, c in enumerate(candidates):
                v = self._cache.get((question, c))
                if v is None:
                    todo.append(i)
                else:
                    out[i] = v
        if todo:
            z = self.encoder.logits([(question, candidates[i]) for i in todo])
            with self._lock:
                for i, v in zip(todo, z, strict=True):
                    out[i] = float(v)
                    self._cache[(question, candidates[i])] = float(v)
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        return out

    def _decision(self) -> dict:
        return self.encoder.meta.get("decision") or {}

    def cosine_weight(self, embedding_model: str | None) -> float | None:
        """How much a candidate's cosine similarity to the question (by ``embedding_model``)
        adds to its logit in the composer's score, or None when the decision was fitted with
        another embedding model (then ``cosine_mean`` stands in for the similarity)."""
        d = self._decision()
        if "cosine_weight" not in d or embedding_model != d.get("embedding_model"):
            return None
        return float(d["cosine_weight"])

    def neutral_cosine(self) -> float:
        """The weighted similarity to use when the embedding model is another: the weight
        times the calibration questions' mean best similarity."""
        d = self._decision()
        return float(d.get("cosine_weight", 0.0)) * float(d.get("cosine_mean", 0.0))

    def answerable(self, question_type: str, best_logit: float) -> float:
        """Probability that the best candidate answers the question; compare with
        ``threshold``. ``best_logit`` is the composer's score: the logit plus the weighted
        cosine similarity (see ``cosine_weight``)."""
        d = self._decision()
        if not d:
            return 1 / (1 + math.exp(-best_logit))
        bias = d["bias"].get(question_type, d["bias"].get("other", 0.0))
        z = d["weight"] * best_logit + bias
        return 1 / (1 + math.exp(-z))

    @property
    def threshold(self) -> float:
        return float(self._decision().get("threshold", 0.5))

    @property
    def margin(self) -> float | None:
        """The composer's margin fitted with the decision (None: not fitted)."""
        m = self._decision().get("margin")
        return None if m is None else float(m)
