"""rag.files.write_atomic: readers of a rewritten shipped file never see half of it."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from rag.files import write_atomic


def test_a_reader_sees_the_old_or_the_new_content_never_a_part(tmp_path: Path) -> None:
    path = tmp_path / "meta.json"
    versions = [json.dumps({"v": v, "pad": "x" * (200_000 + v * 50_000)}) for v in range(3)]
    write_atomic(path, versions[0])
    seen: list[str] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            seen.append(path.read_text(encoding="utf-8"))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(300):
            write_atomic(path, versions[i % 3])
    finally:
        done.set()
        reader.join()
    assert len(seen) > 10
    assert all(s in versions for s in seen), sorted({len(s) for s in seen})
    assert [p.name for p in tmp_path.iterdir()] == ["meta.json"]


def test_permissions_are_kept_and_new_files_get_the_usual_ones(tmp_path: Path) -> None:
    shared = tmp_path / "MODEL_CARD.md"
    shared.write_text("old", encoding="utf-8")
    shared.chmod(0o664)
    write_atomic(shared, "new")  # the temporary file starts as 0600 (mkstemp)
    assert shared.stat().st_mode & 0o777 == 0o664
    fresh = tmp_path / "upload.txt"
    write_atomic(fresh, b"text")
    assert fresh.stat().st_mode & 0o777 == 0o644


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "composer_fit.json"
    path.write_text("{}\n", encoding="utf-8")

    def fail(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, '{"new": 1}\n')
    assert path.read_text(encoding="utf-8") == "{}\n"
    assert [p.name for p in tmp_path.iterdir()] == ["composer_fit.json"]
