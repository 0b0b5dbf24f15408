"""Rewrite a shipped file in one step: a reader sees the old content or the new, never half.

The calibration commands (``calibrate-support``, ``calibrate-ranker``, ``fit-composer``) and
training rewrite files in place that the service reads (``rag/models/*/meta.json``,
``MODEL_CARD.md``, ``rag/train/data/composer_fit.json``). A plain ``write_text`` truncates
first: a run stopped in between (Ctrl-C, kill) leaves an empty or partial file, and the shipped
model no longer loads; a ``rag serve`` loading the model at that moment reads half of it. Here
the text goes to a temporary file beside the target, which then replaces it (``os.replace``).

>>> import tempfile
>>> p = Path(tempfile.mkdtemp()) / "meta.json"
>>> write_atomic(p, '{"a": 1}\\n')
>>> p.read_text(encoding="utf-8")
'{"a": 1}\\n'
>>> write_atomic(p, b"{}")
>>> p.read_bytes(), sorted(x.name for x in p.parent.iterdir())
(b'{}', ['meta.json'])
"""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` through a temporary file and ``os.replace``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
