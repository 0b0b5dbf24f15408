"""Train the answer ranker: does this sentence (with the one before it) answer this question?

``python -m rag.train ranker`` runs every step, seeded, and writes ``rag/models/ranker/``,
with the same machinery as the support model (``rag.train.finetune``):

1. examples (``rag.train.ranker_data``) from ``--train-articles`` articles of the ``train``
   split; held-out examples and calibration questions from the ``calibration`` split (never
   the ``report`` split);
2. fine-tune all-MiniLM-L6-v2 as a cross-encoder on (question, candidate) pairs, inputs of
   at most ``--max-length`` word pieces (short: a question and two sentences);
2b. go on fine-tuning on hand-written training questions (``--written``, by default
   ``rag/train/data/train_questions.jsonl``: train-split articles, written the way the eval
   sets are; ``ranker_data.written_examples``) for ``--written-epochs``, mixed with
   ``--written-replay`` template examples per written one (so the model keeps what it
   learnt), at ``--written-lr``; ``--written ''`` skips it (ranker-1). Four ways were tried
   (probe 3 of ``rag.train.probe``, hand-written calibration questions): on the logit alone
   none chose better than stage 1, but with 1,360 questions, as many template examples and
   2 epochs (the defaults), the ranked composer's score (logit plus weighted cosine) picks a
   sentence that makes a key point for 0.502 against ranker-1's 0.456, so ranker-2 ships;
3. export to ONNX, fp32 and int8; keep int8 when its balanced accuracy on the calibration
   examples is within one point of fp32's;
4. write ``model.onnx``, ``tokenizer.json``, ``meta.json``; fit the abstention decision on the
   calibration questions (``rag.train.abstain``) and write the model card.

Intermediate files go to ``build/train/ranker/`` (git-ignored). ``--resume`` takes the
stage-1 weights of an earlier run from there and redoes stage 2 (~28 min), the export and
the fits.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..crossencoder import model_dir
from .finetune import TrainConfig, export_and_choose, fine_tune, write_meta
from .news import DEFAULT_DATA
from .ranker_data import WRITTEN_QUESTIONS, build_examples, describe, written_examples

MODEL_NAME = "ranker"
VERSION = "ranker-2"  # both stages (the default)
STAGE1_VERSION = "ranker-1"  # stage 1 only (--written '')
WORK_DIR = Path(__file__).resolve().parents[2] / "build" / "train" / MODEL_NAME


def run(args: Any) -> dict[str, Any]:
    t_start = time.perf_counter()
    cfg = TrainConfig(batch_size=args.batch_size, epochs=args.epochs, learning_rate=args.lr,
                      seed=args.seed, max_length=args.max_length, max_length_a=48)
    written = Path(args.written) if args.written else None
    if written is not None and not written.is_file():  # before an hour of training, not after
        raise FileNotFoundError(f"--written {written}: no such file; give the hand-written "
                                f"training questions, or --written '' to skip stage 2")
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    print(f"building examples from {args.data} ...", file=sys.stderr)
    train = build_examples("train", args.train_articles, seed=args.seed, path=args.data)
    cal = build_examples("calibration", args.cal_articles, seed=args.seed + 1, path=args.data)
    for name, rows in (("train", train), ("calibration", cal)):
        with open(work / f"{name}.jsonl", "w", encoding="utf-8") as f:
            for e in rows:
                f.write(json.dumps(asdict(e), ensure_ascii=False) + "\n")
    data_info = {"train": describe(train), "calibration": describe(cal)}
    print(json.dumps(data_info, indent=1), file=sys.stderr)
    hf_dir = work / "hf"
    if args.resume and (hf_dir / "head.pt").exists():
        figures = json.loads((work / "fit.json").read_text())
        print(f"fine-tuned weights taken from {hf_dir}", file=sys.stderr)
    else:
        figures = fine_tune([(e.question, e.candidate) for e in train],
                            [e.label for e in train], cfg, hf_dir)
        (work / "fit.json").write_text(json.dumps(figures))
        print(f"trained: {figures}", file=sys.stderr)

    if written is not None:
        wx = written_examples(written, args.data, seed=args.seed)
        rng = np.random.default_rng(args.seed)
        n_replay = min(len(train), round(args.written_replay * len(wx)))
        replay = [train[i] for i in rng.choice(len(train), size=n_replay, replace=False)]
        mixed = wx + replay
        order = rng.permutation(len(mixed))
        mixed = [mixed[i] for i in order]
        data_info["written"] = {**describe(wx), "questions": str(written.name),
                                "replayed_template_examples": len(replay)}
        cfg2 = replace(cfg, epochs=args.written_epochs, learning_rate=args.written_lr)
        print(f"stage 2: {len(wx)} examples of written questions + {len(replay)} template "
              f"examples, {args.written_epochs} epochs", file=sys.stderr)
        stage2 = fine_tune([(e.question, e.candidate) for e in mixed],
                           [e.label for e in mixed], cfg2, work / "hf-written", init=hf_dir)
        figures = {"stage1": figures, "stage2": stage2, "stage2_config": asdict(cfg2)}
        hf_dir = work / "hf-written"
    version = VERSION if written is not None else STAGE1_VERSION
    results, keep = export_and_choose(
        hf_dir, work, cfg, MODEL_NAME, version, [(e.question, e.candidate) for e in cal],
        np.asarray([e.label for e in cal]),
        extra=lambda logits: {"top1_accuracy": round(_top1(cal, logits), 4)})
    target = Path(args.model) if getattr(args, "model", None) else model_dir(MODEL_NAME)
    target.mkdir(parents=True, exist_ok=True)
    for name in ("model.onnx", "tokenizer.json"):
        shutil.copy(work / f"onnx-{keep}" / name, target / name)
    training = {
        "version": version,
        "seed": args.seed,
        "data": str(Path(args.data).name),
        "config": asdict(cfg),
        "examples": data_info,
        "fit": figures,
        "export": results,
        "kept": keep,
        "command_seconds": round(time.perf_counter() - t_start, 1),
    }
    write_meta(target, target / "model.onnx", cfg, MODEL_NAME, version, training)
    print(f"wrote {target} ({keep})", file=sys.stderr)
    return training


def _top1(examples: Any, logits: np.ndarray) -> float:
    """Share of questions whose positive scores above all of its negatives."""
    by_q: dict[tuple[str, str], list[tuple[float, int]]] = {}
    for e, z in zip(examples, logits, strict=True):
        if e.source != "type":
            by_q.setdefault((e.article_id, e.question), []).append((float(z), e.label))
    rows = [max(v)[1] for v in by_q.values() if any(lab for _, lab in v)]
    return sum(rows) / max(1, len(rows))


def add_arguments(p: Any) -> None:
    p.add_argument("--data", default=str(DEFAULT_DATA), help="the shared news data")
    p.add_argument("--train-articles", type=int, default=1400,
                   help="articles of the train split to draw examples from")
    p.add_argument("--cal-articles", type=int, default=150,
                   help="articles of the calibration split (held-out examples)")
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--written", default=str(WRITTEN_QUESTIONS),
                   help="hand-written training questions for stage 2 ('' skips stage 2)")
    p.add_argument("--written-epochs", type=float, default=2.0)
    p.add_argument("--written-lr", type=float, default=2e-5)
    p.add_argument("--written-replay", type=float, default=1.0,
                   help="template examples mixed into stage 2 per written example (0: none)")
    p.add_argument("--resume", action="store_true",
                   help="take the fine-tuned weights from the work folder (an earlier run)")
    p.add_argument("--work-dir", default=str(WORK_DIR))
