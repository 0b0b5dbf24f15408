"""Figures for the demo corpus (corpus/): build time, cold start, warm ``ask`` latency, and
how the answers read for a few questions, two of which the corpus cannot answer.

``.venv/bin/python -m bench.demo_corpus [--model NAME]`` builds a fresh index in a temporary
folder (model load included, as a first run pays it), then measures in one process. Warm
latency is given twice: repeated questions (caches warm) and every question of the eval set
with the composer's and checker's caches emptied first (a new question over new passages;
the target, p50 <= 100 ms, is for this one).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [
    "Why won't Russia drop Assad?",
    "How many Tomahawk missiles did the US fire?",
    "What did Jim Mattis say about tensions with Russia?",
    "What is the capital of Australia?",  # off-topic
    "How many people died in the Khan Sheikhoun attack?",  # on-topic, the number is absent
    "Why did Putin agree to abandon Assad?",  # false premise
]

COLD = """
import sys, time
t = time.perf_counter()
import rag
qa = rag.load(sys.argv[1], embedding_model=sys.argv[2])
qa.ask("Why won't Russia drop Assad?")
print(time.perf_counter() - t)
"""


def _clear_caches(qa: object) -> None:
    """Empty the composer's sentence vectors and the support checker's (and, with the ranked
    composer, the ranker's) caches of scores."""
    composer = getattr(qa, "composer", None)
    for owner in (composer, getattr(composer, "ranker", None), getattr(qa, "scorer", None)):
        cache = getattr(owner, "_cache", None)
        if cache is not None:
            cache.clear()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.demo_corpus", description=__doc__)
    p.add_argument("--model", default="all-MiniLM-L6-v2")
    p.add_argument("--generator", default="extractive", help="extractive or ranked")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    import rag

    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp) / "index"
        t = time.perf_counter()
        stats = rag.build_index(ROOT / "corpus", index, embedding_model=args.model)
        build = time.perf_counter() - t
        t = time.perf_counter()
        again = rag.build_index(ROOT / "corpus", index, embedding_model=args.model)
        rebuild = time.perf_counter() - t
        cold = float(subprocess.run(
            [sys.executable, "-c", COLD, str(index), args.model], capture_output=True,
            text=True, check=True, cwd=ROOT,
        ).stdout.split()[-1])
        qa = rag.load(index, embedding_model=args.model, generator=args.generator)
        qa.ask(QUESTIONS[0])
        warm = []
        for _ in range(args.rounds):
            for q in QUESTIONS:
                t = time.perf_counter()
                qa.ask(q)
                warm.append(time.perf_counter() - t)
        # A new question: every question of the eval set, with the composer's and the
        # checker's caches emptied first, so nothing is reused from an earlier ask.
        from evals.suite import load_cases

        fresh = []
        for case in load_cases():
            _clear_caches(qa)
            t = time.perf_counter()
            qa.ask(case.question)
            fresh.append(time.perf_counter() - t)
        print(f"model {args.model}: {stats.documents} documents, {stats.chunks} chunks")
        print(f"build from scratch (model load included): {build:.1f} s; "
              f"no-change rebuild: {rebuild * 1000:.0f} ms, {again.embedded} embedded")
        print(f"cold start (fresh process: import, load, first answer): {cold:.1f} s")
        print(f"warm ask p50 {statistics.median(warm) * 1000:.0f} ms, max "
              f"{max(warm) * 1000:.0f} ms ({len(warm)} asks, repeated); new questions (the "
              f"{len(fresh)} eval-set questions, caches emptied): p50 "
              f"{statistics.median(fresh) * 1000:.0f} ms, p95 "
              f"{statistics.quantiles(fresh, n=20)[-1] * 1000:.0f} ms (target p50 <= 100 ms)")
        for q in QUESTIONS:
            a = qa.ask(q)
            print(f"\n## {q}\n(abstained: {a.abstained})\n{a.text}")
            for c in a.citations:
                print(f"  [{c.n}] {c.doc_id}:{c.start}-{c.end}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
