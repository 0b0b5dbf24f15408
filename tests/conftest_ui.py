"""Helpers for the UI tests: start the real app (``app.py``) in a subprocess on a free port.

The app gets a temporary copy of ``corpus/`` and a fresh temporary index, so it builds the
index with the real embedding model at start-up, as a first run would. Imported by
``test_ui.py`` and ``test_browser.py``; it defines no fixtures itself. The start-up itself is
``bench.load.serve``, which the load benchmark uses too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.load import serve

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def running_app(
    workdir: Path, extra_env: dict[str, str] | None = None
) -> Iterator[tuple[str, Path]]:
    """Yield (url, corpus_dir) of a running app; stop it afterwards."""
    with serve(workdir, extra_env) as (url, corpus):
        yield url, corpus
