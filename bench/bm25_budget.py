"""BM25 with a postings budget (``rag.store.BM25_MAX_POSTINGS``) against BM25 over every term.

    .venv/bin/python -m bench.bm25_budget --tier 10k [--queries 1000] [--budgets 0,50000,20000]

On the news tier's index (``bench.run --tier N`` builds it in ``bench/out/cache/``), side by
side in one process: for each budget (0: none, every term of the question is scored), the
known-item recall@1/5/10 and MRR@10 of BM25 alone and of the hybrid retriever, and the warm
latency of one BM25 query and of one hybrid retrieval. Two query sets per article: its summary
as the question (long: bench.run's known-item query) and the summary's first 12 words (short,
like a typed question). Term row counts are looked up once before timing (a Store keeps them).
JSON in ``bench/out/``; the table is printed.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from bench.run import OUT, load_articles, pct, pick, question_of

TIERS = {"1k": 1000, "10k": 10000}


def short_question(a: dict[str, str], words: int = 12) -> str:
    """The first ``words`` words of the article's summary."""
    return " ".join(a["right_summary"].split()[:words])


def measure(store: Any, embedder: Any, items: list[tuple[str, str]]) -> dict[str, Any]:
    from rag.retrieve import HybridRetriever
    from rag.text import content_words

    qv = {q: embedder.embed_query(q) for q, _ in items}

    class _Memo:  # query vectors made once: the retrieval is what is timed
        name, dim = embedder.name, embedder.dim

        def embed_query(self, text: str) -> Any:
            return qv[text]

    out: dict[str, Any] = {}
    for mode in ("bm25", "hybrid"):
        r = HybridRetriever(store, _Memo(), top_k=10, mode=mode)  # type: ignore[arg-type]
        ranks, lat = [], []
        for q, doc in items:
            t = time.perf_counter()
            found = r.run(q)
            lat.append(time.perf_counter() - t)
            ranks.append(next((i for i, p in enumerate(found, 1) if p.doc_id == doc), None))
        out[mode] = {
            **{f"recall@{k}": sum(1 for x in ranks if x and x <= k) / len(ranks)
               for k in (1, 5, 10)},
            "mrr@10": sum(1 / x for x in ranks if x) / len(ranks),
            "ms_p50": 1000 * pct(lat, 50), "ms_p95": 1000 * pct(lat, 95),
        }
    terms = [content_words(q) for q, _ in items]
    lat = []
    for ts in terms:
        t = time.perf_counter()
        store.search_bm25(ts, 30)
        lat.append(time.perf_counter() - t)
    out["bm25_query_ms_p50"], out["bm25_query_ms_p95"] = 1000 * pct(lat, 50), 1000 * pct(lat, 95)
    out["terms_mean"] = sum(len(set(ts)) for ts in terms) / len(terms)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tier", choices=TIERS, default="10k")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--budgets", default="0,50000,20000,10000",
                    help="comma-separated postings budgets; 0 = every term")
    ap.add_argument("--model", default="all-MiniLM-L6-v2")
    ap.add_argument("--index", type=Path, help="another index (default: the tier's cached one)")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args(argv)
    import rag
    import rag.store
    from rag.text import content_words

    n = TIERS[a.tier]
    index = a.index or OUT / "cache" / f"{n}-{a.model}" / "index"
    qa = rag.load(index, embedding_model=a.model)
    store, emb = qa.store, qa.embedder
    articles = pick(load_articles(n), a.queries)
    sets = {"summary": [(question_of(x), f"{x['id']}.txt") for x in articles],
            "short": [(short_question(x), f"{x['id']}.txt") for x in articles]}
    for items in sets.values():  # every term's row count, once, before anything is timed
        for q, _ in items:
            for t in dict.fromkeys(content_words(q)):
                store.postings(t)
    budgets = [int(b) for b in a.budgets.split(",")]
    res: dict[str, Any] = {"tier": a.tier, "rows": store.manifest["n_chunks"],
                           "queries": len(articles), "results": {}}
    for b in budgets:
        rag.store.BM25_MAX_POSTINGS = b if b > 0 else 10**12
        res["results"][str(b)] = {name: measure(store, emb, items) for name, items in sets.items()}
        print(f"budget {b or 'none'} done", flush=True)
    lines = [f"{a.tier}: {res['rows']:,} chunk rows, {len(articles)} articles; R@1 / R@5 / R@10, "
             "MRR@10; warm ms p50 / p95", "",
             "| queries | budget | BM25 alone | hybrid | one BM25 query | hybrid retrieval |",
             "|---|---|---|---|---|---|"]
    for b in budgets:
        for name in sets:
            m = res["results"][str(b)][name]

            def q(x: dict[str, float]) -> str:
                return (f"{x['recall@1']:.3f} / {x['recall@5']:.3f} / {x['recall@10']:.3f}, "
                        f"{x['mrr@10']:.3f}")

            lines.append(
                f"| {name} ({m['terms_mean']:.0f} terms) | {b or 'none'} | {q(m['bm25'])} | "
                f"{q(m['hybrid'])} | {m['bm25_query_ms_p50']:.1f} / {m['bm25_query_ms_p95']:.1f}"
                f" | {m['hybrid']['ms_p50']:.1f} / {m['hybrid']['ms_p95']:.1f} |")
    print("\n".join(lines))
    out = a.out or OUT / f"bm25-budget-{a.tier}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
