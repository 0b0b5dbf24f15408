"""Summary-level faithfulness evaluation of ``rag.verify.SupportScorer`` on the shared news set.

The data (``../shared/data/news-cnn-dm-10k.jsonl.gz``, HaluEval summarization) pairs every
article with a faithful summary and a falsified one. A summary is *accepted* when the scorer
supports every one of its sentences against the whole article; the faithful summary should be
accepted and the falsified one flagged. ``scorer_balanced_accuracy`` reports the mean of the
two rates on the reporting split.

Pairs are split by a hash of their id, so the split never depends on file order or on ``n``:
about 30% of ids form the ``report`` split, the rest the ``calibration`` split used by
``evals.calibrate_scorer``. Neither script ever reads the other's pairs.

It leaves out sentence-level metrics on the pipeline's own answers (that is the eval suite's
citation support/precision) and any download: the file must already be there.

>>> split_of("cnndm-00000"), split_of("cnndm-00003")
('calibration', 'report')
"""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rag.embed import Embedder
from rag.text import split_sentences
from rag.verify import SupportScorer

DATA_FILE = "news-cnn-dm-10k.jsonl.gz"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data" / DATA_FILE
SPLITS = ("calibration", "report")
REPORT_SHARE = 30  # percent of ids in the reporting split
DEFAULT_REPORT_PAIRS = 300


@dataclass(frozen=True)
class Pair:
    id: str
    article: str
    right: list[str]  # sentences of the faithful summary
    hallucinated: list[str]  # sentences of the falsified summary


def split_of(pair_id: str) -> str:
    """``"report"`` for ~30% of ids (by SHA-256 of the id), ``"calibration"`` for the rest."""
    h = int.from_bytes(hashlib.sha256(pair_id.encode()).digest()[:8], "big")
    return "report" if h % 100 < REPORT_SHARE else "calibration"


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


def load_pairs(
    path: str | Path = DEFAULT_DATA, split: str = "report", n_pairs: int | None = None
) -> Iterator[Pair]:
    """The first ``n_pairs`` pairs of ``split`` in file order (all of them for ``None``)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found (see /work/shared/data/README.md)")
    taken = 0
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            if n_pairs is not None and taken >= n_pairs:
                return
            row = json.loads(line)
            if split_of(row["id"]) != split:
                continue
            taken += 1
            yield Pair(
                id=row["id"],
                article=row["text"],
                right=sentences(row["right_summary"]),
                hallucinated=sentences(row["hallucinated_summary"]),
            )


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
    embedder: Embedder | None = None,
    scorer: SupportScorer | None = None,
) -> dict:
    """Summary-level balanced accuracy of the support scorer on ``n_pairs`` pairs of ``split``.

    Returns ``balanced_accuracy`` (what the eval suite reports as
    ``faithfulness_scorer_balanced_accuracy``), the two rates, counts, the scorer model used
    and the run time. About 15-25 s for the default 300 pairs without an embedder.
    """
    t0 = time.perf_counter()
    scorer = scorer or SupportScorer(embedder=embedder)
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
    ap.add_argument("--embedder", default=None, help="e.g. all-MiniLM-L6-v2 (slow) or hash")
    args = ap.parse_args()
    emb = None
    if args.embedder:
        from rag.embed import get_embedder

        emb = get_embedder(args.embedder)
    print(json.dumps(scorer_balanced_accuracy(args.data, args.pairs, args.split, emb), indent=2))
