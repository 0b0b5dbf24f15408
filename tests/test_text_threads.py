"""Stemming from many threads at once gives the single-threaded stems (rag.text)."""

from __future__ import annotations

import random
import string
import sys
from concurrent.futures import ThreadPoolExecutor

from rag import text


def test_threads_stem_like_one_thread() -> None:
    rng = random.Random(0)
    base = ["confrontations", "abandoning", "negotiations", "aspirations", "relationships",
            "strengthened", "intervention", "communications"]
    words = [w + "".join(rng.choices(string.ascii_lowercase, k=4)) + suffix
             for w in base for suffix in ("ing", "ations", "ness", "ed") for _ in range(60)]
    expected = {w: str(text._stemmer().stemWord(w)) for w in words}
    text.stem.cache_clear()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so a shared stemmer would be caught
    try:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda w: (w, text.stem(w)), words))
    finally:
        sys.setswitchinterval(interval)
        text.stem.cache_clear()
    assert [got for _, got in results] == [expected[w] for w, _ in results]
