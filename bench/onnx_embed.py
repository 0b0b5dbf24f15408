"""Bench adapter for the ONNX Runtime embedder, which now lives in ``rag.embed_onnx``.

Keeps the two calls ``bench/run.py`` makes: ``export_onnx(dest)`` exports both variants into
the cache directory ``dest`` (``dest/all-MiniLM-L6-v2-onnx[-int8]/onnx/model.onnx``, stamped,
re-used on later runs) and ``OnnxEmbedder(model_dir, onnx_file, name)`` opens one of them.
No export or inference code of its own: see ``rag.embed_onnx``.
"""

from __future__ import annotations

from pathlib import Path

from rag.embed_onnx import ONNX_FILE, ensure_exported, get_onnx_embedder
from rag.embed_onnx import OnnxEmbedder as RagOnnxEmbedder
from rag.settings import DEFAULT_MODEL

__all__ = ["OnnxEmbedder", "RagOnnxEmbedder", "export_onnx", "get_onnx_embedder"]


def export_onnx(dest: Path, quantize: bool = True) -> dict[str, Path]:
    """Export (once) into the cache directory ``dest``; the ``.onnx`` file of each variant."""
    out = {"fp32": ensure_exported(dest, False) / ONNX_FILE}
    if quantize:
        out["int8"] = ensure_exported(dest, True) / ONNX_FILE
    return out


def OnnxEmbedder(  # noqa: N802 - keeps the old bench class name
    model_dir: Path, onnx_file: Path, name: str, threads: int = 0
) -> RagOnnxEmbedder:
    """The ``rag`` embedder for a file returned by ``export_onnx`` (``model_dir`` is unused;
    the embedder is named ``all-MiniLM-L6-v2+onnx`` or ``...+onnx-int8``, not ``name``)."""
    folder = Path(onnx_file).parents[len(ONNX_FILE.parts) - 1]
    suffix = "+onnx-int8" if folder.name.endswith("-int8") else "+onnx"
    return RagOnnxEmbedder(DEFAULT_MODEL + suffix, folder.parent, threads=threads)
