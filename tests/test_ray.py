"""``rag index --ray``: reading and embedding on Ray give the index a local build gives.

One local Ray instance with two workers serves the whole module (started by the first
``RayExecutor``, as ``rag index --ray`` starts one); builds run in this process against it,
except one ``rag index --ray ADDRESS`` that joins it from a subprocess. Fast tests use the
hash embedder; the one marked ``model`` compares the real model's vectors.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import CORPUS, ROOT

import rag
from rag.cli import main
from rag.index import BuildStats
from rag.index_ray import RayExecutor
from rag.store import current_generation

# Ray Data's own settings object warns about its deprecated fields when it is copied.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")

ARTICLE = (
    "Berlin hosted a summit on Arctic shipping routes. Delegates from nine countries attended "
    "the meeting. The talks focused on icebreaker capacity and insurance costs."
)


@pytest.fixture(scope="module")
def ray_hash() -> Iterator[RayExecutor]:
    """A local Ray instance with two workers, as ``rag index --ray --ray-workers 2`` starts
    it, for the whole module; its executor embeds with the hash model."""
    with RayExecutor("hash", workers=2) as ex:
        ex.start()
        yield ex
    import ray

    assert not ray.is_initialized()  # the executor that started it stopped it


def make_corpus(dst: Path) -> Path:
    """corpus/ plus files exercising every path of a build: markdown with front matter, HTML,
    a long article (several chunks), the same text twice, a binary file, a shared sentence."""
    shutil.copytree(CORPUS, dst)
    (dst / "arctic.txt").write_text(ARTICLE)
    (dst / "news" / "2024").mkdir(parents=True)
    (dst / "news" / "2024" / "ports.md").write_text(
        "---\ntitle: Ports reopen\nauthor: A. Writer\noutlet: Harbour Daily\ndate: 2024-03-01\n"
        "---\nThe ports reopened on Monday. " + ARTICLE.split(". ")[1] + ". Trade resumed.\n")
    (dst / "page.html").write_text(
        "<html><head><title>Grain deal</title></head><body><article><h1>Grain deal</h1>"
        "<p>Ministers signed a grain deal in Istanbul. Ships will leave Odesa next week.</p>"
        "<p>Insurers welcomed the corridor.</p></article></body></html>")
    long = " ".join(f"Paragraph {i} reports that the river rose by {i} centimetres overnight."
                    for i in range(60))
    (dst / "flood.txt").write_text(long)
    (dst / "zz-copy.txt").write_text(ARTICLE)  # same text as arctic.txt: skipped
    (dst / "junk.txt").write_bytes(b"\x00\xff\x00 binary junk")
    return dst


def snapshot(index: Path) -> dict[str, Any]:
    """Everything an index holds, timestamps aside: rows of every table, vectors by hash,
    the FAISS ids and vectors, the manifest."""
    import faiss

    gen = current_generation(index)
    assert gen is not None
    conn = sqlite3.connect(gen / "store.sqlite")
    q = lambda sql: conn.execute(sql).fetchall()  # noqa: E731
    snap: dict[str, Any] = {
        "documents": q("SELECT * FROM documents ORDER BY doc_id"),
        "chunks": q("SELECT * FROM chunks ORDER BY id"),
        "fts": q("SELECT rowid, text FROM chunks_fts ORDER BY rowid"),
        "sentences": sorted(q("SELECT doc_id, text_hash FROM sentences")),
        "meta": sorted(q("SELECT key, value FROM meta")),
        "embeddings": dict(q("SELECT text_hash, vector FROM embeddings")),
        "sentence_vectors": dict(q("SELECT text_hash, vector FROM sentence_vectors")),
    }
    conn.close()
    fx = faiss.read_index(str(gen / "vectors.faiss"))
    snap["faiss_ids"] = faiss.vector_to_array(fx.id_map).tolist()
    snap["faiss_vectors"] = faiss.downcast_index(fx.index).reconstruct_n(0, fx.ntotal).tobytes()
    manifest = json.loads((gen / "manifest.json").read_text())
    manifest.pop("built_at")
    snap["manifest"] = manifest
    return snap


def counts(stats: BuildStats) -> dict[str, Any]:
    out = dict(vars(stats))
    for timing in ("seconds", "generation"):
        out.pop(timing)
    return out


@pytest.fixture(scope="module")
def built(ray_hash: RayExecutor, tmp_path_factory: pytest.TempPathFactory
          ) -> tuple[Path, Path, Path, BuildStats, BuildStats]:
    """The same corpus built locally and on Ray (batches of 8: several per worker)."""
    root = tmp_path_factory.mktemp("ray")
    corpus = make_corpus(root / "corpus")
    local = rag.build_index(corpus, root / "local", embedding_model="hash", batch_size=8)
    seen: list[tuple[str, int, int]] = []
    on_ray = rag.build_index(corpus, root / "ray", executor=ray_hash, batch_size=8,
                             progress=lambda *a: seen.append(a))
    embed = [(done, total) for stage, done, total in seen if stage == "embed"]
    assert embed[0] == (0, on_ray.texts_embedded) and embed[-1][0] == on_ray.texts_embedded
    assert [d for d, _ in embed] == sorted(d for d, _ in embed)
    return corpus, root / "local", root / "ray", local, on_ray


def test_ray_build_equals_local_build(built: tuple[Path, Path, Path, BuildStats, BuildStats]
                                      ) -> None:
    _, local_index, ray_index, local, on_ray = built
    assert counts(on_ray) == counts(local)
    assert local.added == 6 and local.texts_embedded > 100
    assert {d for d, _ in local.skipped} == {"junk.txt", "zz-copy.txt"}
    a, b = snapshot(local_index), snapshot(ray_index)
    assert a.keys() == b.keys()
    for key in a:
        assert a[key] == b[key], key
    assert len(a["chunks"]) == len(a["faiss_ids"]) > 8


def test_incremental_ray_build_embeds_what_a_local_one_does(
    built: tuple[Path, Path, Path, BuildStats, BuildStats], ray_hash: RayExecutor,
    tmp_path: Path,
) -> None:
    corpus0, local0, ray0, _, _ = built
    corpus = tmp_path / "corpus"
    shutil.copytree(corpus0, corpus)
    shutil.copytree(local0, tmp_path / "local")
    shutil.copytree(ray0, tmp_path / "ray")
    ap = corpus / "russia-assad-ap.md"
    ap.write_text(ap.read_text().replace("59 Tomahawk", "sixty Tomahawk"))  # edit
    (corpus / "added.txt").write_text("Oslo hosted talks on fishing quotas. Trade resumed.")
    (corpus / "arctic.txt").unlink()  # deleted: its copy zz-copy.txt is indexed now
    local = rag.build_index(corpus, tmp_path / "local", embedding_model="hash", batch_size=8)
    on_ray = rag.build_index(corpus, tmp_path / "ray", executor=ray_hash, batch_size=8)
    assert counts(on_ray) == counts(local)
    assert (local.added, local.replaced, local.removed) == (2, 1, 1)
    assert 0 < local.texts_embedded < 10 and local.reused > 0  # only what is new
    a, b = snapshot(tmp_path / "local"), snapshot(tmp_path / "ray")
    for key in a:
        assert a[key] == b[key], key
    again = rag.build_index(corpus, tmp_path / "ray", executor=ray_hash)
    assert not again.changed and again.texts_embedded == 0


def test_cli_index_on_ray(ray_hash: RayExecutor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    """`rag index CORPUS --index DIR --ray --ray-workers 2`, in this process: Ray is
    running here already, so it is used (and left running)."""
    monkeypatch.setenv("RAG_EMBEDDING_MODEL", "hash")
    index = tmp_path / "index"
    rc = main(["index", str(CORPUS), "--index", str(index), "--ray", "--ray-workers", "2"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert f"index {index}: 2 documents" in out.out and "2 added" in out.out
    assert "chunk vectors made" in out.out
    assert rag.load(index, embedding_model="hash").ask("How many Tomahawk missiles?").citations
    import ray

    assert ray.is_initialized()


def test_cli_joins_a_cluster_and_leaves_it_running(ray_hash: RayExecutor, tmp_path: Path
                                                   ) -> None:
    """`rag index --ray HOST:PORT` in its own process joins the running instance; its stderr
    holds the progress bars and rag's lines, nothing from Ray."""
    import ray

    address = ray.get_runtime_context().gcs_address
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAG_EMBEDDING_MODEL": "hash"}
    out = subprocess.run(
        [sys.executable, "-m", "rag.cli", "index", str(CORPUS), "--index",
         str(tmp_path / "index"), "--ray", address],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "2 added" in out.stdout
    lines = [ln for ln in out.stderr.replace("\r", "\n").splitlines() if ln.strip()]
    assert any(ln.startswith(f"rag: using the Ray cluster at {address}") for ln in lines)
    assert all(ln.startswith(("rag: ", "hashing files", "reading", "embedding sentences"))
               for ln in lines), out.stderr
    assert ray.cluster_resources().get("CPU") == 2  # still running


def test_errors_are_one_line(ray_hash: RayExecutor, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RAG_EMBEDDING_MODEL", "hash")
    index = str(tmp_path / "index")
    cases = [
        (["--ray", "127.0.0.1:1"], "cannot reach the Ray cluster at 127.0.0.1:1"),
        (["--ray-workers", "2"], "--ray-workers goes with --ray"),
        (["--ray", "--ray-workers", "0"], "--ray-workers must be >= 1"),
    ]
    for extra, message in cases:
        assert main(["index", str(CORPUS), "--index", index, *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    assert main(["index", str(CORPUS), "--index", index, "--ray"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'rag[ray]'" in err and len(err.strip().splitlines()) == 1, err


def test_a_model_that_fails_on_a_worker_is_one_line(ray_hash: RayExecutor, tmp_path: Path
                                                    ) -> None:
    bad = tmp_path / "no-such-model"  # a folder the workers cannot load the model from
    ex = RayExecutor(str(bad))
    with pytest.raises(rag.errors.RagError, match="on a Ray worker: embedding model folder"):
        rag.build_index(CORPUS, tmp_path / "index", executor=ex)
    assert current_generation(tmp_path / "index") is None


def test_rag_and_its_help_do_not_import_ray() -> None:
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, rag, rag.cli, rag.index; rag.cli._parser(); "
         "print('ray' in sys.modules)"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )
    assert probe.stdout.strip() == "False", probe.stderr


@pytest.mark.model
def test_real_model_vectors_equal_the_local_ones(ray_hash: RayExecutor, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text(ARTICLE)
    (corpus / "b.md").write_text((CORPUS / "russia-assad-ap.md").read_text()[:1500])
    local = rag.build_index(corpus, tmp_path / "local", batch_size=4)
    with RayExecutor(rag.settings.DEFAULT_MODEL, workers=2) as ex:
        on_ray = rag.build_index(corpus, tmp_path / "ray", executor=ex, batch_size=4)
    assert counts(on_ray) == counts(local) and local.texts_embedded >= 12  # 3+ batches
    a, b = snapshot(tmp_path / "local"), snapshot(tmp_path / "ray")
    for key in ("documents", "chunks", "fts", "sentences", "meta", "faiss_ids", "manifest"):
        assert a[key] == b[key], key
    for table, dtype in (("embeddings", np.float32), ("sentence_vectors", np.float16)):
        assert a[table].keys() == b[table].keys()
        for h, v in a[table].items():
            x, y = np.frombuffer(v, dtype), np.frombuffer(b[table][h], dtype)
            assert np.abs(x.astype(np.float32) - y.astype(np.float32)).max() <= (
                1e-5 if dtype == np.float32 else 1e-3), (table, h)
