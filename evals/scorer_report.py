"""Summary-level faithfulness evaluation of ``rag.verify.SupportScorer`` on the shared news set.

The data (``../shared/data/news-cnn-dm-10k.jsonl.gz``, HaluEval summarization) pairs every
article with a faithful summary and a falsified one. A summary is *accepted* when the scorer
supports every one of its sentences against the whole article; the faithful summary should be
accepted and the falsified one flagged. ``scorer_balanced_accuracy`` reports the mean of the
two rates on the reporting split.

Pairs are split by a hash of their id (``rag.train.news.split_of``): ~30% of ids form the
``report`` split read here, ~15% the ``calibration`` split that fits thresholds, the rest the
``train`` split the support model learns from. The report split never feeds training or
tuning.

It leaves out sentence-level metrics on the pipeline's own answers (that is the eval suite's
citation support/precision) and any download: the file must already be there.

>>> split_of("cnndm-00012"), split_of("cnndm-00003")
('calibration', 'report')
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.train.news import DEFAULT_DATA, SPLITS, read_articles, split_of

__all__ = ["DEFAULT_DATA", "Pair", "balanced_accuracy", "load_pairs", "scorer_balanced_accuracy",
           "split_of"]

DEFAULT_REPORT_PAIRS = 300


@dataclass(frozen=True)
class Pair:
    id: str
    article: str
    right: list[str]  # sentences of the faithful summary
    hallucinated: list[str]  # sentences of the falsified summary


def load_pairs(
    path: str | Path = DEFAULT_DATA, split: str = "report", n_pairs: int | None = None
) -> Iterator[Pair]:
    """The first ``n_pairs`` pairs of ``split`` in file order (all of them for ``None``)."""
    for a in read_articles(path, split, n_pairs):
        yield Pair(a.id, a.text, list(a.right), list(a.hallucinated))


def balanced_accuracy(accepted_right: list[bool], accepted_hallucinated: list[bool]) -> dict:
    """Rates for summary decisions: faithful accepted (TPR), falsified flagged (TNR), mean."""
    tpr = sum(accepted_right) / max(1, len(accepted_right))
    tnr = 1.0 - sum(accepted_hallucinated) / max(1, len(accepted_hallucinated))
    return {
        "balanced_accuracy": round((tpr + tnr) / 2, 4),
        "faithful_accepted": round(tpr, 4),
        "hallucinated_flagged": round(tnr, 4),
    }


def scorer_balanced_accuracy(
    path: str | Path = DEFAULT_DATA,
    n_pairs: int = DEFAULT_REPORT_PAIRS,
    split: str = "report",
    scorer: Any = None,
) -> dict:
    """Summary-level balanced accuracy of the support scorer on ``n_pairs`` pairs of ``split``.

    Returns ``balanced_accuracy`` (what the eval suite reports as
    ``faithfulness_scorer_balanced_accuracy``), the two rates, counts, the scorer model used
    and the run time. ``scorer`` defaults to the live checker (``rag.verify.SupportScorer``).
    """
    t0 = time.perf_counter()
    if scorer is None:
        from rag.verify import SupportScorer

        scorer = SupportScorer()
    acc_right, acc_hall = [], []
    n_sentences = 0
    for pair in load_pairs(path, split, n_pairs):
        acc_right.append(scorer.summary_supported(pair.right, pair.article))
        acc_hall.append(scorer.summary_supported(pair.hallucinated, pair.article))
        n_sentences += len(pair.right) + len(pair.hallucinated)
    out = balanced_accuracy(acc_right, acc_hall)
    out.update(
        split=split,
        n_pairs=len(acc_right),
        n_summaries=2 * len(acc_right),
        n_sentences=n_sentences,
        model=scorer.model_name,
        threshold=scorer.threshold,
        seconds=round(time.perf_counter() - t0, 2),
    )
    return out


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--pairs", type=int, default=DEFAULT_REPORT_PAIRS)
    ap.add_argument("--split", default="report", choices=SPLITS)
    ap.add_argument("--lexical", action="store_true",
                    help="judge with the word-overlap scorer instead of the trained model")
    args = ap.parse_args()
    checker = None
    if args.lexical:
        from rag.lexical import LexicalScorer

        checker = LexicalScorer()
    print(json.dumps(scorer_balanced_accuracy(args.data, args.pairs, args.split, checker),
                     indent=2))
