"""Progress bars on the terminal (stderr) for an index build, shared by the CLI and the app.

A stage's bar appears on its first report: the embedding bar at 0 once the model has loaded
(``Embedder.embed`` reports 0 first), then it moves after every batch of texts embedded (chunks
and their sentences).

>>> progress, close = tqdm_progress()
>>> close()
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

__all__ = ["tqdm_progress"]


def tqdm_progress() -> tuple[Callable[[str, int, int], None], Callable[[], None]]:
    """Progress bars on stderr for ``build_index(progress=...)``, and a function closing them."""
    from tqdm import tqdm

    bars: dict[str, Any] = {}
    labels = {"scan": "hashing files", "read": "reading",
              "embed": "embedding sentences"}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            # Embedding reports once per batch (~1 s each with the real model): show every
            # one. Files are counted one by one, faster than a terminal needs redrawing.
            every = {"mininterval": 0, "miniters": 1} if stage == "embed" else {}
            bar = bars[stage] = tqdm(total=total, desc=labels.get(stage, stage), unit="",
                                     file=sys.stderr, **every)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    def close() -> None:
        for bar in bars.values():
            bar.close()

    return progress, close
