"""ONNX Runtime embedder for all-MiniLM-L6-v2 (bench only; a proposal for ``rag.embed``).

The transformer is exported offline with ``torch.onnx.export`` into a COPY of the model folder
under ``bench/out/models`` (never into site-packages); ``quantize_dynamic`` gives an int8
variant. Inference needs only ``onnxruntime`` and the fast tokenizer: mean pooling over the
attention mask, then L2 normalisation (as the sentence-transformers pipeline does).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.embed import Embedder, resolve_model_path
from rag.settings import DEFAULT_MODEL

MAX_SEQ_LENGTH = 256


def export_onnx(dest: Path, quantize: bool = True) -> dict[str, Path]:
    """Copy the model folder to ``dest`` and write ``onnx/model.onnx`` (+ ``model_int8.onnx``)."""
    src = Path(resolve_model_path(DEFAULT_MODEL))
    if not dest.exists():
        shutil.copytree(src, dest)
    out = dest / "onnx"
    out.mkdir(exist_ok=True)
    fp32, int8 = out / "model.onnx", out / "model_int8.onnx"
    if not fp32.exists():
        import torch
        from transformers import AutoModel, AutoTokenizer

        model = AutoModel.from_pretrained(str(dest)).eval()
        tok = AutoTokenizer.from_pretrained(str(dest))

        class _Wrap(torch.nn.Module):
            def __init__(self, m: torch.nn.Module) -> None:
                super().__init__()
                self.m = m

            def forward(self, ids, mask, types):  # noqa: ANN001, ANN201
                return self.m(input_ids=ids, attention_mask=mask, token_type_ids=types)[0]

        enc = tok(["hello world", "a slightly longer sentence"], padding=True, return_tensors="pt")
        names = ["input_ids", "attention_mask", "token_type_ids"]
        axes = {k: {0: "batch", 1: "seq"} for k in [*names, "last_hidden_state"]}
        with torch.no_grad():
            torch.onnx.export(
                _Wrap(model), (enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]),
                str(fp32), dynamo=False, input_names=names, output_names=["last_hidden_state"],
                dynamic_axes=axes, opset_version=17,
            )
    if quantize and not int8.exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    return {"fp32": fp32, "int8": int8}


class OnnxEmbedder(Embedder):
    """all-MiniLM-L6-v2 on ONNX Runtime; ``sort`` embeds length-sorted batches."""

    dim = 384

    def __init__(self, model_dir: Path, onnx_file: Path, name: str, threads: int = 0) -> None:
        import onnxruntime as ort
        from transformers import AutoTokenizer

        self.name = name
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            str(onnx_file), opts, providers=["CPUExecutionProvider"]
        )

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        enc = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=MAX_SEQ_LENGTH,
            return_tensors="np",
        )
        feeds = {
            "input_ids": enc["input_ids"].astype(np.int64),
            "attention_mask": enc["attention_mask"].astype(np.int64),
            "token_type_ids": enc["token_type_ids"].astype(np.int64),
        }
        hidden = self.session.run(None, feeds)[0]
        mask = feeds["attention_mask"][..., None].astype(np.float32)
        return (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
