"""Indexing throughput: a local build against ``rag index --ray`` with 1 and 2 workers.

    .venv/bin/python -m bench.ray_throughput --articles 200 [--model all-MiniLM-L6-v2]

Builds the same corpus (the first N articles of ``../shared/data/news-cnn-dm-10k.jsonl.gz``)
three times into fresh index folders, each build in a fresh subprocess (a cold start each: the
model loads, Ray starts): locally, then on a local Ray instance with 1 and with 2 workers
(one CPU and one actor each). It prints, per build, the texts embedded (sentences), the wall
time, texts/s end to end (start-up included) and texts/s once the first vectors are back
(steady state), and the ratios to the local build; JSON in ``bench/out/``.
It checks that the three indexes hold the same chunks and vectors (equal within 1e-5).

A local build lets onnxruntime use every core; a Ray worker uses one thread (the CPU Ray
gives it), so on one machine two workers are about a local build, minus Ray's start-up: the
point of ``--ray`` is more machines, and these figures are its per-machine overhead. Figures
are wall-clock on a shared machine: compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.run import OUT, ROOT, load_articles, write_corpus
from rag.settings import DEFAULT_MODEL


def phase(corpus: Path, index: Path, model: str, workers: int, batch_size: int) -> dict[str, Any]:
    """One build in this process: ``workers`` 0 is local, else a local Ray instance."""
    import rag
    from rag.index_ray import RayExecutor

    marks: list[tuple[float, int]] = []  # (time, texts embedded so far) after each batch

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "embed" and done:
            marks.append((time.perf_counter(), done))

    t0 = time.perf_counter()
    if workers:
        with RayExecutor(model, workers=workers) as ex:
            stats = rag.build_index(corpus, index, executor=ex, batch_size=batch_size,
                                    progress=progress)
    else:
        stats = rag.build_index(corpus, index, embedding_model=model, batch_size=batch_size,
                                progress=progress)
    total = time.perf_counter() - t0  # Ray's shutdown included
    steady = (marks[-1][1] - marks[0][1]) / (marks[-1][0] - marks[0][0]) \
        if len(marks) > 1 and marks[-1][0] > marks[0][0] else float("nan")
    return {"workers": workers, "texts": stats.texts_embedded, "chunks": stats.chunks,
            "documents": stats.documents, "seconds": round(total, 2),
            "first_vectors_s": round(marks[0][0] - t0, 2) if marks else None,
            "texts_per_s": round(stats.texts_embedded / total, 2),
            "steady_texts_per_s": round(steady, 2)}


def vectors(index: Path) -> dict[str, np.ndarray]:
    from rag.store import current_generation

    gen = current_generation(index)
    assert gen is not None
    conn = sqlite3.connect(gen / "store.sqlite")
    rows = conn.execute("SELECT text_hash, vector FROM embeddings").fetchall()
    conn.close()
    return {h: np.frombuffer(v, np.float32) for h, v in rows}


def chunk_rows(index: Path) -> list[tuple[Any, ...]]:
    from rag.store import current_generation

    gen = current_generation(index)
    assert gen is not None
    conn = sqlite3.connect(gen / "store.sqlite")
    rows = conn.execute('SELECT id, chunk_id, start, "end", text_hash FROM chunks ORDER BY id')
    out = rows.fetchall()
    conn.close()
    return out


def run(n: int, model: str, batch_size: int, workers: Sequence[int]) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="ray-throughput-"))
    try:
        corpus = tmp / "corpus"
        write_corpus(load_articles(n), corpus)
        builds = []
        for w in workers:
            params = {"corpus": str(corpus), "index": str(tmp / f"index-{w}"), "model": model,
                      "workers": w, "batch_size": batch_size}
            out = subprocess.run(
                [sys.executable, "-m", "bench.ray_throughput", "--phase", json.dumps(params)],
                capture_output=True, text=True, cwd=ROOT, check=False,
            )
            if out.returncode != 0:
                raise SystemExit(f"build with {w} Ray workers failed:\n{out.stderr[-3000:]}")
            builds.append(json.loads(out.stdout.strip().splitlines()[-1]))
            label = f"Ray, {w} worker{'s' if w > 1 else ''}" if w else "local"
            print(f"  {label}: {builds[-1]['seconds']} s", file=sys.stderr, flush=True)
        base = vectors(tmp / f"index-{workers[0]}")
        rows = chunk_rows(tmp / f"index-{workers[0]}")
        for w in workers[1:]:
            other = vectors(tmp / f"index-{w}")
            assert other.keys() == base.keys(), f"{w} workers: other chunk texts"
            diff = max(float(np.abs(base[h] - other[h]).max()) for h in base)
            assert diff <= 1e-5, f"{w} workers: vectors differ by {diff}"
            assert chunk_rows(tmp / f"index-{w}") == rows, f"{w} workers: other chunks"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    local = builds[0]
    for b in builds:
        b["ratio_texts_per_s"] = round(b["texts_per_s"] / local["texts_per_s"], 3)
        b["ratio_steady"] = round(b["steady_texts_per_s"] / local["steady_texts_per_s"], 3)
    return {"articles": n, "model": model, "batch_size": batch_size, "builds": builds,
            "same_index": True}


def table(res: dict[str, Any]) -> str:
    lines = [f"{res['articles']} articles, {res['model']}, batches of {res['batch_size']}; "
             f"{res['builds'][0]['texts']} texts embedded "
             f"(the sentences of {res['builds'][0]['chunks']} chunks)",
             "",
             "| build | wall s | first vectors s | texts/s | ratio | steady texts/s | ratio |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for b in res["builds"]:
        w = b["workers"]
        label = f"Ray, {w} worker{'s' if w > 1 else ''}" if w else "local"
        lines.append(f"| {label} | {b['seconds']} | {b['first_vectors_s']} | "
                     f"{b['texts_per_s']} | {b['ratio_texts_per_s']} | "
                     f"{b['steady_texts_per_s']} | {b['ratio_steady']} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ray_throughput",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--articles", type=int, default=200, help="first N news articles")
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--out", type=Path, help="JSON (default bench/out/ray-throughput-N.json)")
    p.add_argument("--phase", help=argparse.SUPPRESS)  # internal: one build, JSON out
    args = p.parse_args(argv)
    if args.phase:
        q = json.loads(args.phase)
        res = phase(Path(q["corpus"]), Path(q["index"]), q["model"], q["workers"],
                    q["batch_size"])
        print(json.dumps(res))
        return 0
    res = run(args.articles, args.model, args.batch_size, workers=(0, 1, 2))
    out = args.out or OUT / f"ray-throughput-{args.articles}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(table(res))
    print(f"\n(JSON: {out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
