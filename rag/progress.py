"""Progress bars on the terminal (stderr) for an index build, shared by the CLI and the app.

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
    labels = {"scan": "hashing files", "read": "reading", "embed": "embedding chunks"}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=labels.get(stage, stage), unit="",
                                     file=sys.stderr)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    def close() -> None:
        for bar in bars.values():
            bar.close()

    return progress, close
