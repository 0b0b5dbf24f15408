"""Replace a file in one step: a reader sees the old content or the new, never half of it.

Used wherever the project rewrites a file that something else may read meanwhile: uploads
into the corpus (``rag.library``, while an index build reads it) and the shipped files that
calibration and training rewrite (``rag/models/*/meta.json``, ``MODEL_CARD.md``,
``rag/train/data/composer_fit.json``, read by a running service). A plain ``write_text``
truncates first: a run stopped in between (Ctrl-C, kill) leaves an empty or partial file (a
shipped model that no longer loads), and a reader in between gets half of it. Here the data
goes to a hidden temporary file beside the target (a name starting with ``.``, which
ingestion skips), which then replaces it (``os.replace``); the file keeps its permissions.

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
import tempfile
from pathlib import Path

NEW_FILE_MODE = 0o644  # permissions of a file that did not exist (a replaced one keeps its own)


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` through a temporary file and ``os.replace``;
    on any error (or interruption) the old file stays and the temporary one is removed."""
    path = Path(path)
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = NEW_FILE_MODE
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
