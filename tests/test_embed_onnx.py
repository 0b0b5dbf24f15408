"""The opt-in ONNX Runtime embedder (rag.embed_onnx): vectors match torch, the export stamp,
atomic re-export, a question answered through rag.load, and no torch import at query time.

The tests marked ``model`` share one export per module (fp32 + int8, ~15-60 s) in a temporary
cache directory, never ``~/.cache``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import CORPUS, DEMO, ROOT

pytest.importorskip("onnxruntime", reason="the ONNX embedder needs onnxruntime (rag[onnx])")
pytest.importorskip("onnx", reason="exporting the ONNX model needs onnx (rag[onnx])")

from rag import embed_onnx  # noqa: E402
from rag.embed import get_embedder  # noqa: E402
from rag.errors import MissingDependencyError, RagError  # noqa: E402

FP32, INT8 = "all-MiniLM-L6-v2+onnx", "all-MiniLM-L6-v2+onnx-int8"
TOMAHAWK = "How many Tomahawk missiles were fired?"
TEXTS = [
    TOMAHAWK,
    DEMO,
    "The United States issued advance notice to Russia before unleashing a volley of "
    "59 Tomahawk cruise missiles from US warships in the Mediterranean.",
    "Zürich's café owners said Moscow — not Damascus — would decide.",
    (CORPUS / "russia-assad-ap.md").read_text()[:3000],  # longer than 256 word pieces
]


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    cache = tmp_path_factory.mktemp("onnx-cache")
    for quantize in (False, True):
        embed_onnx.ensure_exported(cache, quantize)
    yield cache
    embed_onnx._instances.clear()  # later tests must not reuse embedders pointing here


@pytest.fixture(scope="module")
def torch_vectors() -> np.ndarray:
    return get_embedder("all-MiniLM-L6-v2").embed(TEXTS)


def _cosines(name: str, cache: Path, reference: np.ndarray) -> np.ndarray:
    emb = embed_onnx.OnnxEmbedder(name, cache)
    vecs = emb.embed(TEXTS, batch_size=2)
    assert vecs.shape == (len(TEXTS), 384) and emb.dim == 384
    return np.sum(vecs * reference, axis=1)


@pytest.mark.model
def test_fp32_matches_torch(onnx_cache: Path, torch_vectors: np.ndarray) -> None:
    cos = _cosines(FP32, onnx_cache, torch_vectors)
    assert cos.min() >= 0.999, cos


@pytest.mark.model
def test_int8_matches_torch(onnx_cache: Path, torch_vectors: np.ndarray) -> None:
    cos = _cosines(INT8, onnx_cache, torch_vectors)
    assert cos.min() >= 0.98, cos


@pytest.mark.model
def test_export_folder_is_a_stamped_copy(onnx_cache: Path) -> None:
    folder = onnx_cache / "all-MiniLM-L6-v2-onnx-int8"
    stamp = embed_onnx.read_stamp(folder)
    assert stamp and stamp["quantized"] and stamp["opset"] == embed_onnx.OPSET
    assert (folder / "onnx" / "model.onnx").is_file() and (folder / "tokenizer.json").is_file()
    assert not list(folder.glob("*.safetensors"))  # the ONNX file replaces the torch weights
    assert sorted(p.name for p in onnx_cache.iterdir()) == [
        "all-MiniLM-L6-v2-onnx", "all-MiniLM-L6-v2-onnx-int8"]  # no temporary folder left


@pytest.mark.model
def test_stamp_mismatch_reexports(onnx_cache: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(onnx_cache / "all-MiniLM-L6-v2-onnx", cache / "all-MiniLM-L6-v2-onnx")
    folder = cache / "all-MiniLM-L6-v2-onnx"
    onnx_file = folder / "onnx" / "model.onnx"
    os.utime(onnx_file, (1, 1))
    assert embed_onnx.ensure_exported(cache, False) == folder
    assert onnx_file.stat().st_mtime == 1  # a matching stamp is trusted: no export

    stamp = json.loads((folder / embed_onnx.STAMP_FILE).read_text())
    (folder / embed_onnx.STAMP_FILE).write_text(json.dumps({**stamp, "source_sha256": "old"}))
    assert embed_onnx.ensure_exported(cache, False) == folder
    assert onnx_file.stat().st_mtime > 1  # exported again
    assert (embed_onnx.read_stamp(folder) or {}).get("source_sha256") == stamp["source_sha256"]
    assert [p.name for p in cache.iterdir()] == ["all-MiniLM-L6-v2-onnx"]


@pytest.mark.model
def test_interrupted_export_leaves_the_old_folder(
    onnx_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(onnx_cache / "all-MiniLM-L6-v2-onnx", cache / "all-MiniLM-L6-v2-onnx")
    folder = cache / "all-MiniLM-L6-v2-onnx"
    (folder / embed_onnx.STAMP_FILE).write_text("{}")  # stale: forces an export

    def killed(*_: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(embed_onnx, "_export", killed)
    with pytest.raises(KeyboardInterrupt):
        embed_onnx.ensure_exported(cache, False)
    assert (folder / "onnx" / "model.onnx").is_file()  # untouched, still stale
    assert [p.name for p in cache.iterdir()] == ["all-MiniLM-L6-v2-onnx"]  # no half model


@pytest.mark.model
def test_rag_load_with_int8_answers_a_number(onnx_cache: Path, tmp_path: Path) -> None:
    import rag

    # rag.load / build_index call get_embedder(name): it returns the instance made here.
    emb = get_embedder(INT8, cache_dir=onnx_cache)
    assert get_embedder(INT8) is emb
    index = tmp_path / "index"
    rag.build_index(CORPUS, index, embedding_model=INT8)
    qa = rag.load(index, embedding_model=INT8)
    ans = qa.ask(TOMAHAWK)
    assert qa.embedder is emb
    assert not ans.abstained, ans.text
    assert any("59 Tomahawk" in c.quote for c in ans.citations), ans.text


@pytest.mark.model
def test_query_time_does_not_import_torch(onnx_cache: Path) -> None:
    child = f"""
import json, sys
import rag.embed_onnx
from rag.embed import get_embedder
v = rag.embed_onnx.OnnxEmbedder({INT8!r}, {str(onnx_cache)!r}).embed_query({TOMAHAWK!r})
w = get_embedder({FP32!r}, cache_dir={str(onnx_cache)!r}).embed([{DEMO!r}, "x"])
assert v.shape == (384,) and w.shape == (2, 384)
heavy = ("torch", "sentence_transformers", "transformers")
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
"""
    out = subprocess.run(
        [sys.executable, "-c", child], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_missing_onnxruntime_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec",
        lambda name, *a: None if name == "onnxruntime" else find_spec(name, *a),
    )
    with pytest.raises(MissingDependencyError, match="pip install onnxruntime onnx"):
        embed_onnx.OnnxEmbedder(INT8, "/nonexistent")


def test_names() -> None:
    assert embed_onnx.split_name(INT8) == ("all-MiniLM-L6-v2", True)
    assert embed_onnx.split_name(FP32) == ("all-MiniLM-L6-v2", False)
    with pytest.raises(RagError, match="all-MiniLM-L6-v2 only"):
        embed_onnx.split_name("other-model+onnx")
    with pytest.raises(ValueError, match="threads"):
        embed_onnx.OnnxEmbedder(INT8, "/nonexistent", threads=-1)


@pytest.mark.model
def test_an_index_built_with_the_model_is_asked_without_torch(model_index: Path) -> None:
    """A build with all-MiniLM-L6-v2 leaves its fp32 ONNX copy in ~/.cache/rag/models
    (``rag.embed.prepare_query_model``); a new process then embeds questions with it
    (``query_embedder``): no torch imported, and the same answer, citations and passages as
    with sentence-transformers."""
    from rag.chain import QA
    from rag.embed import SentenceTransformerEmbedder, query_embedder
    from rag.settings import Settings
    from rag.store import Store

    assert embed_onnx.exported(embed_onnx.default_cache_dir(), False) is not None
    question = "Why did Russia freeze the military hotline with the United States?"
    child = f"""
import json, sys
import rag
qa = rag.load({str(model_index)!r})
a = qa.ask({question!r})
heavy = ("torch", "sentence_transformers", "transformers")
print(json.dumps({{"heavy": sorted(m for m in sys.modules if m.split(".")[0] in heavy),
                  "embedder": type(qa.embedder).__name__, "name": qa.embedder.name,
                  "text": a.text, "passages": [p.chunk_id for p in a.passages]}}))
"""
    out = subprocess.run(
        [sys.executable, "-c", child], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["heavy"] == [] and got["embedder"] == "OnnxEmbedder"
    assert got["name"] == "all-MiniLM-L6-v2"  # its vectors are that model's
    settings = Settings(index_dir=model_index)
    st = QA(Store.open(model_index), settings, embedder=get_embedder("all-MiniLM-L6-v2"))
    assert isinstance(st.embedder, SentenceTransformerEmbedder)
    want = st.ask(question)
    assert got["text"] == want.text and got["passages"] == [p.chunk_id for p in want.passages]
    assert type(query_embedder("all-MiniLM-L6-v2")).__name__ == "OnnxEmbedder"


@pytest.mark.model
def test_a_build_embeds_on_onnxruntime_with_the_model_s_vectors(
    model_index: Path, tmp_path: Path
) -> None:
    """With the ONNX copy made (the ``model_index`` build made it), a build embeds sentences
    on onnxruntime (``rag.embed.index_embedder``): no torch imported, and vectors equal to
    sentence-transformers' (cosine >= 0.999 as stored in float16), so chunk vectors (their
    means) are too."""
    from rag.store import Store

    index = tmp_path / "index"
    child = f"""
import json, sys
import rag
stats = rag.build_index({str(ROOT / "corpus")!r}, {str(index)!r})
heavy = ("torch", "sentence_transformers", "transformers")
print(json.dumps({{"heavy": sorted(m for m in sys.modules if m.split(".")[0] in heavy),
                  "texts": stats.texts_embedded}}))
"""
    out = subprocess.run(
        [sys.executable, "-c", child], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["heavy"] == [] and got["texts"] > 40
    from rag.index import chunk_vector

    store = Store.open(index)
    rows = store.conn.execute(
        "SELECT d.text, c.sentences, e.vector FROM chunks c "
        "JOIN documents d USING(doc_id) JOIN embeddings e USING(text_hash)"
    ).fetchall()
    spans = [[t[a:b] for a, b in json.loads(sj)] for t, sj, _ in rows]
    sents = sorted({x for ss in spans for x in ss})
    assert len(sents) == got["texts"]
    stored = store.sentence_vectors(sents)
    torch_vecs = dict(zip(sents, get_embedder("all-MiniLM-L6-v2").embed(sents), strict=True))
    assert min(float(stored[x] @ torch_vecs[x]) for x in sents) >= 0.999
    built = np.stack([np.frombuffer(v, dtype=np.float32) for _, _, v in rows])
    want = np.stack([chunk_vector([torch_vecs[x] for x in ss], [len(x) for x in ss])
                     for ss in spans])
    assert float((built * want).sum(axis=1).min()) >= 0.999
