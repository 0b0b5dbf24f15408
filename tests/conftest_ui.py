"""Helpers for the UI tests: start the real app (``app.py``) in a subprocess on a free port.

The app gets a temporary copy of ``corpus/`` and a fresh temporary index, so it builds the
index with the real embedding model at start-up, as a first run would. Imported by
``test_ui.py`` and ``test_browser.py``; it defines no fixtures itself.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT = 240.0  # index build + model load on a 2-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_app(
    workdir: Path, extra_env: dict[str, str] | None = None
) -> Iterator[tuple[str, Path]]:
    """Yield (url, corpus_dir) of a running app; stop it afterwards."""
    corpus = workdir / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    port = free_port()
    log = open(workdir / "app.log", "w+b")  # noqa: SIM115 - closed below
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1",
           **(extra_env or {})}
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "--port", str(port),
         "--corpus", str(corpus), "--index", str(workdir / "index")],
        cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"app exited with {proc.returncode}:\n{log.read().decode()}")
            try:
                with urllib.request.urlopen(url + "/config", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"app did not start in {STARTUP_TIMEOUT:.0f} s:\n"
                                   f"{log.read().decode()}")
            time.sleep(0.5)
        yield url, corpus
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
