"""``python -m evals``: run the eval suite over corpus/ and write a JSON + Markdown report.

Exits 1 when a metric is on the wrong side of ``evals/thresholds.json``, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from evals.claims import CLAIMS
from evals.suite import CASES, THRESHOLDS, aggregate, check_thresholds, load_cases, markdown

ROOT = Path(__file__).resolve().parent.parent


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m evals", description=__doc__)
    p.add_argument("--out", type=Path, default=Path("report.json"), help="JSON report path")
    p.add_argument("--cases", type=Path, default=CASES, help="eval set (JSONL)")
    p.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    p.add_argument("--index", type=Path, default=ROOT / "index" / "evals",
                   help="index built (incrementally) for the eval run")
    p.add_argument("--thresholds", type=Path, default=THRESHOLDS)
    p.add_argument("--model", dest="embedding_model", help="embedding model")
    p.add_argument("--generator", help="answer generator (extractive, openai, ollama, llamacpp)")
    p.add_argument("--llm", dest="model", help="chat model name or GGUF path for --generator")
    p.add_argument("-k", "--top-k", type=int, dest="top_k")
    p.add_argument("--scorer-pairs", type=int, default=300,
                   help="held-apart news pairs for the checker's balanced accuracy (0 to skip)")
    p.add_argument("--claims", type=Path, default=CLAIMS,
                   help="labelled claim set for the checker (see evals/CLAIMS.md)")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from tqdm import tqdm

    import rag
    from rag.errors import RagError
    from rag.lexical import LexicalScorer
    from rag.settings import Settings
    from rag.verify import SupportScorer

    try:
        cases = load_cases(args.cases)
        settings = Settings.from_env().with_(
            embedding_model=args.embedding_model, generator=args.generator, model=args.model,
            top_k=args.top_k, index_dir=args.index, corpus_dir=args.corpus,
        )
        t0 = time.perf_counter()
        stats = rag.build_index(settings.corpus_dir, settings.index_dir,
                                embedding_model=settings.embedding_model,
                                chunk_size=settings.chunk_size,
                                chunk_overlap=settings.chunk_overlap)
        qa = rag.load(settings.index_dir, settings)
        scorer = SupportScorer()
        from evals.suite import run_cases

        bar = tqdm(total=len(cases), desc="eval cases", disable=args.no_progress,
                   file=sys.stderr)
        results = run_cases(qa, cases, scorer, settings.top_k, tick=lambda: bar.update(1),
                            lexical=LexicalScorer())
        bar.close()
    except (RagError, ValueError, OSError) as exc:
        print(f"evals: error: {exc}", file=sys.stderr)
        return 2
    metrics: dict[str, Any] = aggregate(results)
    scorer_info: dict = {}
    if args.scorer_pairs:
        from evals.scorer_report import DEFAULT_DATA, scorer_balanced_accuracy

        if Path(DEFAULT_DATA).exists():
            print("judging the checker on held-apart news pairs...", file=sys.stderr)
            scorer_info = scorer_balanced_accuracy(n_pairs=args.scorer_pairs, scorer=scorer)
            metrics["checker_news_balanced_accuracy"] = scorer_info["balanced_accuracy"]
        else:
            print(f"warning: {DEFAULT_DATA} not found; checker accuracy not measured",
                  file=sys.stderr)
            metrics["checker_news_balanced_accuracy"] = None
    claims: dict[str, Any] = {}
    if args.claims:
        from evals.claims import evaluate_claims

        print("judging the checker on the labelled claim set...", file=sys.stderr)
        claims = evaluate_claims(scorer, args.claims, settings.corpus_dir)
        metrics["claims_balanced_accuracy"] = claims["balanced_accuracy"]
        metrics["claims_min_kind_balanced_accuracy"] = claims["min_kind_balanced_accuracy"]
    thresholds = json.loads(args.thresholds.read_text())
    problems = check_thresholds(metrics, thresholds)
    report = {
        "metrics": metrics,
        "scorer": scorer_info,
        "claims": claims,
        "config": {
            "cases": str(args.cases), "corpus": str(settings.corpus_dir),
            "embedding_model": settings.embedding_model, "generator": settings.generator,
            "top_k": settings.top_k, "index_chunks": stats.chunks,
            "seconds": round(time.perf_counter() - t0, 1),
        },
        "thresholds": thresholds,
        "threshold_failures": problems,
        "cases": [
            {"id": r.case.id, "kind": r.case.kind, "question": r.case.question,
             "answerable": r.case.answerable, "answer": r.answer, "abstained": r.abstained,
             "citations": r.citations, "metrics": r.metrics, "failures": r.failures,
             "seconds": r.seconds}
            for r in results
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    md = markdown(metrics, results, problems, thresholds, claims)
    args.out.with_suffix(".md").write_text(md)
    print(md.split("## Failing cases")[0])
    print(f"report: {args.out} and {args.out.with_suffix('.md')}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
