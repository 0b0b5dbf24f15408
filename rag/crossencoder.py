"""A trained pair classifier (cross-encoder) run on onnxruntime, without torch.

The models we train (``python -m rag.train``) are committed under ``rag/models/<name>/`` as
``model.onnx`` (int8 weights), ``tokenizer.json`` and ``meta.json``; ``meta.json`` records
the format version, the SHA-256 of ``model.onnx``, the input lengths used in training and
the calibrated decision. ``CrossEncoder`` checks both on first use and refuses a file that
does not match (a corrupt or half-copied model fails loudly, never scores quietly wrong).

Inputs are built exactly as in training (``rag.train.finetune.encode_pairs``):
``[CLS] a [SEP] b [SEP]``, ``a`` cut to ``max_length_a`` word pieces, ``b`` to what is left of
``max_length``. Each pair runs alone (``batch_size=1``): the int8 model quantises activations
with one scale per input tensor, padding included, so in a batch a pair's logit moved by up
to 0.7 with the pairs beside it, and a cached verdict depended on which request had scored
the pair first. Alone, a logit is a function of its pair, and no slower on a CPU (measured:
22 ms per support pair alone, 29 ms in batches of 16; the ranker 9.5 against 10.3 ms).

``threads`` pairs run at once, each on one core (one onnxruntime thread per run, several runs
in parallel on one session): a single pair is too small to share between two cores, so two
pairs side by side go faster than one pair on two threads (the ranker, 1,500 calibration
pairs on 2 cores: 365 pairs/s against 230), with the same logits to the last bit, since each
pair still runs alone.

>>> enc = CrossEncoder(model_dir("support"))
>>> enc.meta["format"] == FORMAT
True

Loading is lazy and happens once per instance (thread-safe); ``logits`` may be called from
several threads at once (onnxruntime sessions are thread-safe).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .errors import MissingDependencyError, RagError

__all__ = ["FORMAT", "CrossEncoder", "ModelFileError", "model_dir"]

FORMAT = 1  # meta.json format understood by this code
_INSTALL = "pip install onnxruntime tokenizers"


class ModelFileError(RagError):
    """A committed model file is missing, corrupt or of another format."""


def model_dir(name: str) -> Path:
    """The folder of a model shipped with the package: ``rag/models/<name>``."""
    return Path(str(resources.files("rag").joinpath("models", name)))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class CrossEncoder:
    """Score (a, b) pairs with the ONNX model in ``path``; see the module docstring."""

    def __init__(self, path: str | Path, threads: int = 2, batch_size: int = 1) -> None:
        if threads <= 0:
            raise ValueError(f"threads must be > 0, got {threads}")
        if batch_size <= 0:
            raise ValueError(f"batch_size must be > 0, got {batch_size}")
        self.path = Path(path)
        self.threads = threads
        self.batch_size = batch_size
        self._meta: dict[str, Any] | None = None
        self._session: Any = None
        self._tokenizer: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    @property
    def meta(self) -> dict[str, Any]:
        if self._meta is None:
            file = self.path / "meta.json"
            try:
                meta = json.loads(file.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise ModelFileError(
                    f"{file} is missing; retrain with `python -m rag.train` or reinstall rag"
                ) from None
            if meta.get("format") != FORMAT:
                raise ModelFileError(
                    f"{file} has format {meta.get('format')!r}, this code reads format {FORMAT}; "
                    "retrain with `python -m rag.train` or use the matching rag version"
                )
            self._meta = meta
        return self._meta

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            try:
                import onnxruntime as ort
                from tokenizers import Tokenizer
            except ImportError:
                raise MissingDependencyError(
                    f"the trained models run on onnxruntime: {_INSTALL}"
                ) from None
            meta = self.meta
            onnx_file = self.path / "model.onnx"
            if not onnx_file.exists():
                raise ModelFileError(f"{onnx_file} is missing; retrain with `python -m rag.train`")
            digest = sha256_file(onnx_file)
            if digest != meta.get("sha256"):
                raise ModelFileError(
                    f"{onnx_file} does not match its meta.json (sha256 {digest[:12]}…, expected "
                    f"{str(meta.get('sha256'))[:12]}…): the file is corrupt or from another run"
                )
            tok = Tokenizer.from_file(str(self.path / "tokenizer.json"))
            tok.no_truncation()
            tok.no_padding()
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1  # parallel across pairs instead (module docstring)
            opts.inter_op_num_threads = 1
            self._tokenizer = tok
            if self.threads > 1:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="crossencoder")
            self._session = ort.InferenceSession(
                str(onnx_file), opts, providers=["CPUExecutionProvider"]
            )

    def encode(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[list[int], list[int]]]:
        """(input ids, token type ids) of each pair, as in training."""
        self._load()
        meta = self.meta
        max_len, max_a = int(meta["max_length"]), int(meta["max_length_a"])
        cls_id = self._tokenizer.token_to_id("[CLS]")
        sep_id = self._tokenizer.token_to_id("[SEP]")
        a_enc = self._tokenizer.encode_batch([a for a, _ in pairs], add_special_tokens=False)
        b_enc = self._tokenizer.encode_batch([b for _, b in pairs], add_special_tokens=False)
        out = []
        for ea, eb in zip(a_enc, b_enc, strict=True):
            ids_a = ea.ids[:max_a]
            ids_b = eb.ids[: max_len - len(ids_a) - 3]
            ids = [cls_id, *ids_a, sep_id, *ids_b, sep_id]
            types = [0] * (len(ids_a) + 2) + [1] * (len(ids_b) + 1)
            out.append((ids, types))
        return out

    def logits(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """One logit per pair (higher: more likely the positive class)."""
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        encoded = self.encode(pairs)
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]))
        out = np.zeros(len(encoded), dtype=np.float32)
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]

        def run(idx: list[int]) -> None:
            n = max(len(encoded[k][0]) for k in idx)
            ids = np.zeros((len(idx), n), dtype=np.int64)
            types = np.zeros((len(idx), n), dtype=np.int64)
            mask = np.zeros((len(idx), n), dtype=np.int64)
            for row, k in enumerate(idx):
                a, t = encoded[k]
                ids[row, : len(a)] = a
                types[row, : len(t)] = t
                mask[row, : len(a)] = 1
            (res,) = self._session.run(
                ["logits"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            )
            out[idx] = res.reshape(-1)

        if self._pool is None or len(batches) == 1:
            for idx in batches:
                run(idx)
        else:
            for _ in self._pool.map(run, batches):  # re-raises a run's error here
                pass
        return out
