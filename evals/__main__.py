"""``python -m evals``: run the eval suite and write a JSON + Markdown report.

Two eval sets: ``cases.jsonl`` over corpus/ (the demo articles) and ``news_cases.jsonl`` over
the held-apart news articles in ``evals/news/`` (its own index, in ``build/evals/news-index``,
updated only when the articles change; metrics prefixed ``news_``). The report shows both
side by side. Exits 1 when a metric is on the wrong side of ``evals/thresholds.json``, 2 on
bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from evals.claims import CLAIMS
from evals.suite import (
    CASES,
    NEWS_CASES,
    NEWS_CORPUS,
    NEWS_PREFIX,
    THRESHOLDS,
    CaseResult,
    aggregate,
    check_thresholds,
    load_cases,
    markdown,
    without_prefix,
)

ROOT = Path(__file__).resolve().parent.parent


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m evals", description=__doc__)
    return add_arguments(p)


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The eval runner's options, shared by ``python -m evals`` and ``rag eval``."""
    p.add_argument("--out", type=Path, default=Path("report.json"), help="JSON report path")
    p.add_argument("--cases", type=Path, default=CASES, help="eval set (JSONL)")
    p.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    p.add_argument("--index", type=Path, default=ROOT / "index" / "evals",
                   help="index built (incrementally) for the eval run")
    p.add_argument("--news-cases", type=Path, default=NEWS_CASES,
                   help="the second eval set, over the news articles (JSONL)")
    p.add_argument("--news-corpus", type=Path, default=NEWS_CORPUS,
                   help="folder holding the news set's articles (news-*.md)")
    p.add_argument("--news-index", type=Path, default=ROOT / "build" / "evals" / "news-index",
                   help="index built (incrementally) over the news articles")
    p.add_argument("--no-news", action="store_true", help="run the demo-corpus set only")
    p.add_argument("--thresholds", type=Path, default=THRESHOLDS)
    p.add_argument("--model", dest="embedding_model", help="embedding model")
    p.add_argument("--generator",
                   help="answer generator (extractive, ranked, openai, ollama, llamacpp)")
    p.add_argument("--llm", dest="model", help="chat model name or GGUF path for --generator")
    p.add_argument("-k", "--top-k", type=int, dest="top_k")
    p.add_argument("--scorer-pairs", type=int, default=300,
                   help="held-apart news pairs for the checker's balanced accuracy (0 to skip)")
    p.add_argument("--claims", type=Path, default=CLAIMS,
                   help="labelled claim set for the checker (see evals/CLAIMS.md)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def _rows(results: list[CaseResult]) -> list[dict[str, Any]]:
    return [
        {"id": r.case.id, "kind": r.case.kind, "question": r.case.question,
         "answerable": r.case.answerable, "answer": r.answer, "abstained": r.abstained,
         "citations": r.citations, "metrics": r.metrics, "failures": r.failures,
         "seconds": r.seconds}
        for r in results
    ]


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from tqdm import tqdm

    import rag
    from rag.errors import RagError
    from rag.lexical import LexicalScorer
    from rag.settings import Settings
    from rag.verify import SupportScorer

    news_results: list[CaseResult] | None = None
    news_chunks = 0
    try:
        cases = load_cases(args.cases)
        news_cases = [] if args.no_news else load_cases(args.news_cases)
        settings = Settings.from_env().with_(
            embedding_model=args.embedding_model, generator=args.generator, model=args.model,
            top_k=args.top_k, index_dir=args.index, corpus_dir=args.corpus,
        )
        t0 = time.perf_counter()
        stats = rag.build_index(settings.corpus_dir, settings.index_dir,
                                embedding_model=settings.embedding_model,
                                chunk_size=settings.chunk_size,
                                chunk_overlap=settings.chunk_overlap,
                                chunk_vectors=settings.chunk_vectors)
        qa = rag.load(settings.index_dir, settings)
        scorer = SupportScorer()
        from evals.suite import run_cases

        bar = tqdm(total=len(cases), desc="eval cases", disable=args.no_progress,
                   file=sys.stderr)
        results = run_cases(qa, cases, scorer, settings.top_k, tick=lambda: bar.update(1),
                            lexical=LexicalScorer())
        bar.close()
        if news_cases:
            from evals.suite import stage_articles

            news_dir = stage_articles(args.news_corpus, args.news_index.parent / "news-corpus")
            news_stats = rag.build_index(news_dir, args.news_index,
                                         embedding_model=settings.embedding_model,
                                         chunk_size=settings.chunk_size,
                                         chunk_overlap=settings.chunk_overlap,
                                         chunk_vectors=settings.chunk_vectors)
            news_chunks = news_stats.chunks
            news_qa = rag.load(args.news_index, settings.with_(corpus_dir=news_dir))
            bar = tqdm(total=len(news_cases), desc="news cases", disable=args.no_progress,
                       file=sys.stderr)
            news_results = run_cases(news_qa, news_cases, scorer, settings.top_k,
                                     tick=lambda: bar.update(1), lexical=LexicalScorer())
            bar.close()
    except (RagError, ValueError, OSError) as exc:
        print(f"evals: error: {exc}", file=sys.stderr)
        return 2
    metrics: dict[str, Any] = aggregate(results)
    if news_results is not None:
        metrics.update({NEWS_PREFIX + k: v for k, v in aggregate(news_results).items()})
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
    if news_results is None:
        thresholds = without_prefix(thresholds, NEWS_PREFIX)
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
        "cases": _rows(results),
    }
    if news_results is not None:
        report["news"] = {
            "cases_file": str(args.news_cases), "corpus": str(args.news_corpus),
            "index": str(args.news_index), "index_chunks": news_chunks,
            "cases": _rows(news_results),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    md = markdown(metrics, results, problems, thresholds, claims, news_results)
    args.out.with_suffix(".md").write_text(md)
    print(md.split("## Failing cases")[0])
    print(f"report: {args.out} and {args.out.with_suffix('.md')}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
