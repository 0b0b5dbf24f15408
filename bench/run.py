"""Benchmark ``rag`` on the shared CNN/DM news set: indexing, incremental builds, queries,
known-item retrieval quality, and speed-up experiments.

    .venv/bin/python -m bench.run --tier 1k [--out bench/out/results-1k.json] [--experiments]

Every heavy phase runs in a fresh subprocess (``--phase``) so that its peak RSS is its own.
The corpus and the built index are cached under ``bench/out/cache/<tier>-<model>/``; a re-run
reuses the cached full-build figures unless ``--rebuild`` is given. Figures are wall-clock on
a shared machine: compare ratios measured side by side in one run, not absolute numbers
across runs.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "news-cnn-dm-10k.jsonl.gz"
OUT = ROOT / "bench" / "out"
TIERS = {"1k": 1000, "10k": 10000}
MAX_QUESTION = 1990


# -- data ------------------------------------------------------------------------------
def load_articles(n: int, path: Path = DATA) -> list[dict[str, str]]:
    """The first ``n`` articles of the shared gzip JSONL file."""
    out = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if len(out) >= n:
                break
            out.append(json.loads(line))
    return out


def write_corpus(articles: Sequence[dict[str, str]], corpus: Path) -> None:
    """One ``{id}.txt`` per article; files already holding the same text are left alone."""
    corpus.mkdir(parents=True, exist_ok=True)
    for a in articles:
        p = corpus / f"{a['id']}.txt"
        if not p.exists() or p.read_text(encoding="utf-8") != a["text"]:
            p.write_text(a["text"], encoding="utf-8")


def question_of(a: dict[str, str]) -> str:
    q = " ".join(a["right_summary"].split())
    return q[:MAX_QUESTION]


def pick(seq: Sequence[Any], n: int) -> list[Any]:
    """``n`` evenly spaced items of ``seq`` (deterministic sample)."""
    if n >= len(seq):
        return list(seq)
    step = len(seq) / n
    return [seq[int(i * step)] for i in range(n)]


def pct(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    return float(np.percentile(np.asarray(values), q))


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def chunk_texts(index_dir: Path) -> list[str]:
    """Texts of all chunks of the live generation, in row order."""
    from rag.store import Store

    store = Store.open(index_dir)
    try:
        rows = store.conn.execute(
            'SELECT substr(d.text, c.start + 1, c."end" - c.start) FROM chunks c '
            "JOIN documents d USING(doc_id) ORDER BY c.id"
        ).fetchall()
        return [r[0] for r in rows]
    finally:
        store.close()


def sentence_texts(index_dir: Path) -> list[str]:
    """The distinct sentences of all chunks of the live generation (what the build embedded:
    ``rag.store.sentence_texts``)."""
    from rag.store import Store

    store = Store.open(index_dir)
    try:
        rows = store.conn.execute(
            "SELECT d.text, c.sentences FROM chunks c JOIN documents d USING(doc_id) ORDER BY c.id"
        ).fetchall()
        return list(dict.fromkeys(t[s:e] for t, sj in rows for s, e in json.loads(sj)))
    finally:
        store.close()


def get_embedder(model: str) -> Any:
    from rag.embed import get_embedder as ge

    return ge(model)


def raw_encode(embedder: Any, texts: Sequence[str], batch_size: int) -> np.ndarray:
    """The model alone: ``SentenceTransformer.encode`` over all texts at once."""
    model = getattr(embedder, "model", None)
    if model is None:  # HashEmbedder: its batch function is the raw model
        return np.asarray(embedder.embed_batch(list(texts)))
    return model.encode(
        list(texts), batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False,
        normalize_embeddings=True,
    )


def pipeline_encode(embedder: Any, texts: Sequence[str], batch_size: int) -> np.ndarray:
    """What ``rag.index._embed_missing`` does: ``embed`` on parts of max(bs*8, 256) texts."""
    step = max(batch_size * 8, 256)
    parts = [embedder.embed(texts[i : i + step], batch_size=batch_size)
             for i in range(0, len(texts), step)]
    return np.concatenate(parts) if parts else np.zeros((0, embedder.dim), np.float32)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t = time.perf_counter()
    r = fn()
    return r, time.perf_counter() - t


# -- phases (each run in its own process by ``run_phase``) ------------------------------
def phase_build(p: dict[str, Any]) -> dict[str, Any]:
    """Full build from an empty index, then raw encode on samples of the same texts: the
    sentences (what the build's model reads) and the chunks (what a build that embeds chunks
    whole would read: the done-when's "raw encode on the same chunks")."""
    import rag

    index = Path(p["index"])
    shutil.rmtree(index, ignore_errors=True)
    emb = get_embedder(p["model"])
    stats, secs = timed(lambda: rag.build_index(
        p["corpus"], index, embedding_model=p["model"], batch_size=p["batch_size"]))
    rss_build = maxrss_mb()
    chunks = chunk_texts(index)
    sents = sentence_texts(index)
    sample = pick(chunks, p["raw_sample"])
    sent_sample = pick(sents, p["raw_sample"])
    raw_encode(emb, sample[:8], p["batch_size"])  # warm
    _, raw_s = timed(lambda: raw_encode(emb, sample, p["batch_size"]))
    _, pipe_s = timed(lambda: pipeline_encode(emb, sample, p["batch_size"]))
    _, sent_s = timed(lambda: raw_encode(emb, sent_sample, p["batch_size"]))
    # the engine the build embeds with (rag.embed.index_embedder: the model's ONNX copy on
    # onnxruntime for all-MiniLM-L6-v2), alone on the same sentences, and on the chunks
    from rag.embed import index_embedder

    engine = index_embedder(p["model"])
    engine.embed(sent_sample[:8], batch_size=p["batch_size"])  # warm
    _, engine_s = timed(lambda: engine.embed(sent_sample, batch_size=p["batch_size"]))
    _, engine_chunks_s = timed(lambda: engine.embed(sample, batch_size=p["batch_size"]))
    gen = Path(stats.generation and index / stats.generation)
    n = max(stats.chunks, 1)
    sizes = {f.name: f.stat().st_size for f in gen.iterdir() if f.is_file()}
    chunks_per_s = stats.chunks / secs
    return {
        "documents": stats.documents, "chunks": stats.chunks, "embedded": stats.embedded,
        "sentences_embedded": stats.sentences_embedded, "texts_embedded": stats.texts_embedded,
        "chars_chunks": sum(map(len, chunks)), "chars_sentences": sum(map(len, sents)),
        "seconds": secs, "chunks_per_s": chunks_per_s,
        "texts_per_s": stats.texts_embedded / secs,
        "raw_sample": len(sample), "raw_seconds": raw_s, "raw_chunks_per_s": len(sample) / raw_s,
        "raw_texts_per_s_same_mix": len(sent_sample) / sent_s,  # sentences, torch
        "build_engine": type(engine).__name__,
        "engine_texts_per_s_same_mix": len(sent_sample) / engine_s,  # sentences, the engine
        "engine_chunks_per_s": len(sample) / engine_chunks_s,
        "pipeline_sample_chunks_per_s": len(sample) / pipe_s,
        # the done-when: chunks indexed a second end to end against raw encode of the same
        # chunks (sentence-transformers, and the build's engine)
        "ratio_build_vs_raw_chunks": chunks_per_s / (len(sample) / raw_s),
        "ratio_build_vs_engine_chunks": chunks_per_s / (len(sample) / engine_chunks_s),
        # the pipeline's own overhead: texts the model read a second, end to end, against
        # the build's engine (and sentence-transformers) alone on the same sentences
        "ratio_pipeline_vs_raw": (stats.texts_embedded / secs) / (len(sent_sample) / engine_s),
        "ratio_pipeline_vs_raw_torch": (stats.texts_embedded / secs) / (len(sent_sample) / sent_s),
        "ratio_pipeline_embed_vs_raw_same_sample": raw_s / pipe_s,
        "peak_rss_mb": rss_build, "index_bytes": sum(sizes.values()), "files_bytes": sizes,
        "bytes_per_chunk": sum(sizes.values()) / n, "batch_size": p["batch_size"],
    }


def phase_incremental(p: dict[str, Any]) -> dict[str, Any]:
    """No-change rebuild, then 1% of the documents edited, on a scratch copy of the index."""
    import rag

    scratch = Path(p["scratch"])
    shutil.rmtree(scratch, ignore_errors=True)
    corpus, index = scratch / "corpus", scratch / "index"
    shutil.copytree(p["corpus"], corpus)
    shutil.copytree(p["index"], index)
    same, same_s = timed(lambda: rag.build_index(corpus, index, embedding_model=p["model"]))
    files = sorted(corpus.glob("*.txt"))
    edited = files[:: max(1, round(100 / p["percent"]))]
    for f in edited:
        text = f.read_text(encoding="utf-8")
        mid = len(text) // 2
        cut = text.find(". ", mid) + 1 or mid
        f.write_text(
            text[:cut] + " Officials said on Sunday that the review would continue." + text[cut:],
            encoding="utf-8",
        )
    upd, upd_s = timed(lambda: rag.build_index(corpus, index, embedding_model=p["model"]))
    shutil.rmtree(scratch, ignore_errors=True)
    return {
        "nochange_seconds": same_s, "nochange_embedded": same.embedded,
        "nochange_changed": same.changed,
        "edited_documents": len(edited), "edit_replaced": upd.replaced,
        "edit_embedded": upd.embedded, "edit_reused": upd.reused, "edit_seconds": upd_s,
        "edit_sentences_embedded": upd.sentences_embedded,
        "peak_rss_mb": maxrss_mb(),
    }


def _rank(passages: Sequence[Any], doc_id: str) -> int | None:
    for i, ps in enumerate(passages, 1):
        if ps.doc_id == doc_id:
            return i
    return None


def quality(store: Any, embedder: Any, items: Sequence[tuple[str, str]],
            modes: Sequence[str] = ("dense", "bm25", "hybrid")) -> dict[str, dict[str, float]]:
    """Known-item recall@1/5/10 and MRR@10 per retrieval mode."""
    from rag.retrieve import HybridRetriever

    qv = {q: embedder.embed_query(q) for q, _ in items}

    class _Memo:
        name, dim = embedder.name, embedder.dim

        def embed_query(self, text: str) -> np.ndarray:
            return qv[text] if text in qv else embedder.embed_query(text)

    out = {}
    for mode in modes:
        r = HybridRetriever(store, _Memo(), top_k=10, mode=mode)  # type: ignore[arg-type]
        ranks = [_rank(r.run(q), d) for q, d in items]
        lat = []
        for q, _ in items[:50]:
            t = time.perf_counter()
            r.run(q)
            lat.append(time.perf_counter() - t)
        out[mode] = {
            **{f"recall@{k}": sum(1 for x in ranks if x and x <= k) / len(ranks)
               for k in (1, 5, 10)},
            "mrr@10": sum(1 / x for x in ranks if x) / len(ranks),
            "n": len(ranks), "latency_ms_p50_cached_qvec": 1000 * pct(lat, 50),
        }
    return out


def faiss_experiment(store: Any, queries: np.ndarray, k: int = 10) -> dict[str, Any]:
    """Exact IndexFlatIP vs HNSW on the index's own vectors: recall of the exact top-k, speed."""
    import faiss

    idx = store.faiss_index
    ids = faiss.vector_to_array(idx.id_map)
    vecs = idx.index.reconstruct_n(0, idx.ntotal)
    flat = faiss.IndexFlatIP(vecs.shape[1])
    flat.add(vecs)

    def per_query(index: Any) -> tuple[np.ndarray, float]:
        got, t = [], time.perf_counter()
        for q in queries:
            got.append(index.search(q.reshape(1, -1), k)[1][0])
        return np.array(got), 1000 * (time.perf_counter() - t) / len(queries)

    exact, flat_ms = per_query(flat)
    res: dict[str, Any] = {"n_vectors": int(idx.ntotal), "flat_ms_per_query": flat_ms,
                           "flat_bytes": int(vecs.nbytes), "hnsw": []}
    for m in (16, 32):
        h = faiss.IndexHNSWFlat(vecs.shape[1], m, faiss.METRIC_INNER_PRODUCT)
        h.hnsw.efConstruction = 80
        _, build_s = timed(lambda h=h: h.add(vecs))
        size = faiss.serialize_index(h).nbytes
        for ef in (16, 64, 128):
            h.hnsw.efSearch = ef
            got, ms = per_query(h)
            rec = np.mean([len(set(a) & set(b)) / k for a, b in zip(got, exact, strict=True)])
            res["hnsw"].append({"M": m, "efSearch": ef, f"recall@{k}_vs_exact": float(rec),
                                "ms_per_query": ms, "build_s": build_s, "bytes": int(size)})
    res["ids_contiguous"] = bool(len(ids) == 0 or ids.max() - ids.min() + 1 == len(ids))
    return res


def ask_latency(qa: Any, questions: Sequence[str]) -> dict[str, Any]:
    """Warm ``qa.ask`` latency split by stage, and the composer's sentence-embedding time."""
    from rag.compose import ExtractiveComposer

    for q in questions[:3]:  # warm: model, FAISS file, scorer
        qa.ask(q)
    comp_embed: list[float] = []
    comp_texts: list[int] = []
    orig = ExtractiveComposer._vectors

    def _vectors(self: Any, texts: list[str], stored: Any = None) -> np.ndarray:
        t = time.perf_counter()
        have = stored(texts) if stored is not None else {}
        todo = len([x for x in dict.fromkeys(texts) if x not in self._cache and x not in have])
        r = orig(self, texts, stored)
        comp_embed[-1] += time.perf_counter() - t
        comp_texts[-1] += todo
        return r

    ExtractiveComposer._vectors = _vectors  # type: ignore[method-assign]
    tim: dict[str, list[float]] = {"retrieve": [], "compose": [], "verify": [], "total": []}
    abstained = 0
    try:
        for q in questions:
            comp_embed.append(0.0)
            comp_texts.append(0)
            ans, total = timed(lambda q=q: qa.ask(q))
            abstained += ans.abstained
            for key in ("retrieve", "compose", "verify"):
                tim[key].append(ans.timings.get(key, 0.0))
            tim["total"].append(total)
    finally:
        ExtractiveComposer._vectors = orig  # type: ignore[method-assign]
    tim["compose_embedding"] = comp_embed
    ms = {k: {"p50": 1000 * pct(v, 50), "p95": 1000 * pct(v, 95), "mean": 1000 * statistics.mean(v)}
          for k, v in tim.items()}
    return {
        "questions": len(questions), "abstained": abstained, "latency_ms": ms,
        "compose_embedding_share_of_total": sum(comp_embed) / max(sum(tim["total"]), 1e-9),
        "compose_sentences_embedded_mean": statistics.mean(comp_texts),
    }


def phase_query(p: dict[str, Any]) -> dict[str, Any]:
    """Warm qa.ask latency, composer embedding share, retrieval quality, FAISS experiment."""
    import rag

    articles = load_articles(p["n"])
    qa = rag.load(p["index"], embedding_model=p["model"])
    asked = pick(articles, p["questions"])
    lat = ask_latency(qa, [question_of(a) for a in asked])
    items = [(question_of(a), f"{a['id']}.txt") for a in pick(articles, p["quality_n"])]
    qual = quality(qa.store, qa.embedder, items)
    qvecs = np.stack([qa.embedder.embed_query(q) for q, _ in items[:200]])
    return {
        **lat, "quality": qual, "faiss": faiss_experiment(qa.store, qvecs),
        "peak_rss_mb": maxrss_mb(),
    }


COLD = """
import time, sys
t0 = time.perf_counter()
import rag
t1 = time.perf_counter()
qa = rag.load(sys.argv[1], embedding_model=sys.argv[2])
t2 = time.perf_counter()
ans = qa.ask(sys.argv[3])
t3 = time.perf_counter()
import json, resource
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "first_ask_s": t3 - t2,
                  "in_process_s": t3 - t0, "answer_abstained": ans.abstained,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def cold_start(index: Path, model: str, question: str) -> dict[str, Any]:
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", COLD, str(index), model, question],
                       capture_output=True, text=True, cwd=ROOT, check=True)
    wall = time.perf_counter() - t
    return {**json.loads(r.stdout.strip().splitlines()[-1]), "process_wall_s": wall}


def phase_embed_experiments(p: dict[str, Any]) -> dict[str, Any]:
    """Side by side on one chunk sample: batch size, torch threads, sorted batches, ONNX."""
    import torch

    from bench.onnx_embed import OnnxEmbedder, export_onnx

    texts = pick(chunk_texts(Path(p["index"])), p["sample"])
    emb = get_embedder(p["model"])
    base_vecs = raw_encode(emb, texts, 32)
    res: dict[str, Any] = {"sample": len(texts), "torch_threads_default": torch.get_num_threads()}

    def rate(fn: Callable[[], Any]) -> float:
        return len(texts) / timed(fn)[1]

    rows = []
    for threads, sizes in ((torch.get_num_threads(), (16, 32, 64, 128)), (1, (32,))):
        torch.set_num_threads(threads)
        for bs in sizes:
            rows.append({"threads": threads, "batch_size": bs,
                         "raw": rate(lambda bs=bs: raw_encode(emb, texts, bs))})
    torch.set_num_threads(res["torch_threads_default"])
    res["torch_batch_threads_chunks_per_s"] = rows

    # Embedder.embed batches texts sorted by length (adopted after this experiment showed it).
    res["pipeline_bs32_chunks_per_s"] = rate(lambda: pipeline_encode(emb, texts, 32))
    res["raw_bs32_chunks_per_s"] = rate(lambda: raw_encode(emb, texts, 32))

    models, export_s = timed(lambda: export_onnx(OUT / "models" / "minilm-onnx"))
    res["onnx_export_s"] = export_s
    mdir = OUT / "models" / "minilm-onnx"
    for kind in ("fp32", "int8"):
        oe = OnnxEmbedder(mdir, models[kind], f"{p['model']}+onnx-{kind}")
        vecs = oe.embed(texts[:64])
        cos = float(np.mean(np.sum(vecs * base_vecs[:64], axis=1)))
        res[f"onnx_{kind}"] = {"pipeline_chunks_per_s": rate(
                                   lambda oe=oe: pipeline_encode(oe, texts, 32)),
                               "mean_cosine_vs_torch": cos,
                               "file_mb": models[kind].stat().st_size / 2**20}
    res["torch_again_pipeline_bs32_chunks_per_s"] = rate(lambda: pipeline_encode(emb, texts, 32))
    res["peak_rss_mb"] = maxrss_mb()
    return res


def phase_onnx_index(p: dict[str, Any]) -> dict[str, Any]:
    """Build a full index with the int8 ONNX embedder; recall vs the torch index."""
    import rag
    from bench.onnx_embed import OnnxEmbedder, export_onnx
    from rag.store import Store

    models = export_onnx(OUT / "models" / "minilm-onnx")
    oe = OnnxEmbedder(OUT / "models" / "minilm-onnx", models[p["kind"]],
                      f"all-MiniLM-L6-v2+onnx-{p['kind']}")
    index = Path(p["index"])
    shutil.rmtree(index, ignore_errors=True)
    stats, secs = timed(lambda: rag.build_index(p["corpus"], index, embedder=oe,
                                                batch_size=32))
    articles = load_articles(p["n"])
    items = [(question_of(a), f"{a['id']}.txt") for a in pick(articles, p["quality_n"])]
    store = Store.open(index)
    qual = quality(store, oe, items, modes=("dense", "hybrid"))
    lat = [timed(lambda q=q: oe.embed_query(q))[1] for q, _ in items[:100]]
    from rag.chain import QA
    from rag.settings import Settings

    qa = QA(store, Settings(index_dir=index, embedding_model=oe.name), embedder=oe)
    asks = ask_latency(qa, [question_of(a) for a in pick(articles, p.get("questions", 100))])
    return {"ask": asks, "kind": p["kind"],
            "embedded": stats.embedded,
            "seconds": secs, "chunks_per_s": stats.embedded / secs, "quality": qual,
            "query_embed_ms_p50": 1000 * pct(lat, 50), "peak_rss_mb": maxrss_mb()}


PHASES = {"build": phase_build, "incremental": phase_incremental, "query": phase_query,
          "embed_experiments": phase_embed_experiments, "onnx_index": phase_onnx_index}


def run_phase(
    name: str, params: dict[str, Any], inline: bool = False, module: str = "bench.run",
    show_progress: bool = False,
) -> dict[str, Any]:
    """Run phase ``name`` of ``module`` (``python -m module --phase name``) in a fresh
    interpreter (own peak RSS) and return its JSON result, its last stdout line.
    ``show_progress`` lets its stderr through instead of keeping it for the error."""
    if inline:
        return PHASES[name](params)
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    t = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", module, "--phase", name, "--params", json.dumps(params)],
        stdout=subprocess.PIPE, stderr=None if show_progress else subprocess.PIPE, text=True,
        cwd=ROOT, env=env,
    )
    if r.returncode != 0:
        raise RuntimeError(f"phase {name} failed (exit {r.returncode})"
                           + (f":\n{r.stderr[-4000:]}" if r.stderr else "; its stderr is above"))
    out: dict[str, Any] = json.loads(r.stdout.strip().splitlines()[-1])
    out["phase_wall_s"] = time.perf_counter() - t
    return out


# -- orchestration ---------------------------------------------------------------------
def run_benchmark(
    n: int, *, model: str = "all-MiniLM-L6-v2", cache: Path | None = None,
    batch_size: int = 32, questions: int = 200, quality_n: int = 1000, raw_sample: int = 1000,
    rebuild: bool = False, experiments: bool = False, onnx_index: bool = False,
    log: Callable[[str], None] = print, partial: Path | None = None,
) -> dict[str, Any]:
    """All phases for the first ``n`` articles; ``partial`` gets the results after each one."""
    cache = cache or OUT / "cache" / f"{n}-{model.replace('/', '_')}"
    corpus, index = cache / "corpus", cache / "index"
    articles = load_articles(n)
    write_corpus(articles, corpus)
    res: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"), "n_articles": len(articles), "model": model,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
    }
    build_json = cache / "build.json"
    common = {"corpus": str(corpus), "index": str(index), "model": model, "n": n}
    if rebuild or not build_json.exists() or not (index / "CURRENT").exists():
        log(f"build: indexing {len(articles)} articles from scratch ...")
        build = run_phase("build", {**common, "batch_size": batch_size,
                                    "raw_sample": raw_sample})
        build_json.write_text(json.dumps(build, indent=2))
        build["cached"] = False
    else:
        build = {**json.loads(build_json.read_text()), "cached": True}
        log("build: cached figures reused (pass --rebuild to measure again)")
    res["build"] = build

    def save() -> None:
        if partial is not None:
            partial.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text(json.dumps(res, indent=2))

    save()
    log("incremental ...")
    res["incremental"] = run_phase(
        "incremental", {**common, "scratch": str(cache / "scratch"), "percent": 1.0})
    save()
    log("query + quality + faiss ...")
    res["query"] = run_phase("query", {**common, "questions": min(questions, n),
                                       "quality_n": min(quality_n, n)})
    save()
    log("cold start ...")
    res["cold_start"] = cold_start(index, model, question_of(articles[0]))
    save()
    if experiments:
        log("embedding experiments (batch size, threads, sorted batches, ONNX) ...")
        res["embed_experiments"] = run_phase("embed_experiments", {**common, "sample": 256})
        save()
    if onnx_index:
        for kind in ("int8",):
            log(f"ONNX {kind} full index + recall ...")
            res[f"onnx_index_{kind}"] = run_phase("onnx_index", {
                **common, "kind": kind, "index": str(cache / f"index-{kind}"),
                "quality_n": min(quality_n, n)})
            save()
    res["targets"] = check_targets(res)
    return res


def check_targets(res: dict[str, Any]) -> dict[str, Any]:
    q = res["query"]["quality"]
    return {
        # (a build cached by an older run has no such figure: False, not an error)
        "build_vs_raw_chunks>=0.9": res["build"].get("ratio_build_vs_raw_chunks", 0) >= 0.9,
        "pipeline_vs_raw>=0.9": res["build"]["ratio_pipeline_vs_raw"] >= 0.9,
        "nochange_rebuild<5s": res["incremental"]["nochange_seconds"] < 5,
        "nochange_embeds_0": res["incremental"]["nochange_embedded"] == 0,
        "warm_ask_p50<=50ms": res["query"]["latency_ms"]["total"]["p50"] <= 50,
        "warm_ask_p95<=150ms": res["query"]["latency_ms"]["total"]["p95"] <= 150,
        "cold_start<=2s": res["cold_start"]["process_wall_s"] <= 2,
        "hybrid_r5>dense_and_bm25": q["hybrid"]["recall@5"]
        > max(q["dense"]["recall@5"], q["bm25"]["recall@5"]),
    }


def table(res: dict[str, Any]) -> str:
    b, inc, q, c = res["build"], res["incremental"], res["query"], res["cold_start"]
    lat = q["latency_ms"]
    lines = [
        f"| metric | value | ({res['n_articles']} articles, {b['chunks']} chunks) |",
        "|---|---|---|",
        f"| full build | {b['seconds']:.1f} s | {b['chunks_per_s']:.1f} chunks/s end to end; "
        f"{b.get('texts_embedded', b['embedded'])} sentences embedded, "
        f"{b.get('texts_per_s', b['chunks_per_s']):.1f} texts/s |",
        f"| raw encode of the chunks (sample {b['raw_sample']}) | "
        f"{b['raw_chunks_per_s']:.1f} chunks/s | sentence-transformers, batch {b['batch_size']}; "
        f"the build's engine {b.get('build_engine', 'torch')}: "
        f"{b.get('engine_chunks_per_s', 0):.1f} chunks/s |",
        f"| **build / raw encode, same chunks** | "
        f"{b.get('ratio_build_vs_raw_chunks', 0):.2f} | chunks/s end to end over raw encode "
        f"of the chunks; over the build's engine on them "
        f"{b.get('ratio_build_vs_engine_chunks', 0):.2f} (the model reads sentences; a chunk's "
        f"vector is their mean) |",
        f"| pipeline / model alone (same texts) | {b['ratio_pipeline_vs_raw']:.2f} | sentences "
        f"a second end to end over the engine alone on them "
        f"({b.get('engine_texts_per_s_same_mix', 0):.1f}/s); over sentence-transformers "
        f"{b.get('ratio_pipeline_vs_raw_torch', 0):.2f} |",
        f"| build peak RSS | {b['peak_rss_mb']:.0f} MB | |",
        f"| index size | {b['index_bytes'] / 2**20:.1f} MB | "
        f"{b['bytes_per_chunk'] / 1024:.2f} KiB/chunk |",
        f"| no-change rebuild | {inc['nochange_seconds']:.2f} s | "
        f"embedded {inc['nochange_embedded']} |",
        f"| 1% edited ({inc['edited_documents']} docs) | {inc['edit_seconds']:.1f} s | "
        f"embedded {inc.get('edit_sentences_embedded', 0)} sentences, made "
        f"{inc['edit_embedded']} chunk vectors, reused {inc['edit_reused']} |",
        f"| warm ask p50 / p95 | {lat['total']['p50']:.0f} / {lat['total']['p95']:.0f} ms | "
        f"{q['questions']} questions, {q['abstained']} abstained |",
        f"| retrieve p50 / p95 | {lat['retrieve']['p50']:.0f} / {lat['retrieve']['p95']:.0f} ms |"
        " |",
        f"| compose p50 / p95 | {lat['compose']['p50']:.0f} / {lat['compose']['p95']:.0f} ms | "
        f"of which sentence embedding p50 {lat['compose_embedding']['p50']:.0f} ms, "
        f"{q['compose_embedding_share_of_total']:.0%} of ask time |",
        f"| verify p50 / p95 | {lat['verify']['p50']:.0f} / {lat['verify']['p95']:.0f} ms | |",
        f"| cold start | {c['process_wall_s']:.1f} s | import {c['import_s']:.1f} s, load "
        f"{c['load_s']:.2f} s, first ask {c['first_ask_s']:.1f} s |",
        f"| query peak RSS | {q['peak_rss_mb']:.0f} MB | |",
    ]
    for mode, m in q["quality"].items():
        lines.append(
            f"| {mode} R@1/5/10, MRR | {m['recall@1']:.3f} / {m['recall@5']:.3f} / "
            f"{m['recall@10']:.3f}, {m['mrr@10']:.3f} | n={m['n']} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    ap.add_argument("--tier", choices=sorted(TIERS), default="1k")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--model", default="all-MiniLM-L6-v2")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--rebuild", action="store_true", help="measure the full build again")
    ap.add_argument("--experiments", action="store_true",
                    help="batch size / threads / sorted batches / ONNX throughput on a sample")
    ap.add_argument("--onnx-index", action="store_true",
                    help="full index with ONNX fp32 and int8 embedders, recall vs torch")
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--params", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.phase:
        print(json.dumps(PHASES[args.phase](json.loads(args.params))))
        return 0
    if not DATA.exists():
        print(f"data file {DATA} not found", file=sys.stderr)
        return 2
    out = args.out or OUT / f"results-{args.tier}.json"
    res = run_benchmark(TIERS[args.tier], model=args.model, batch_size=args.batch_size,
                        rebuild=args.rebuild, experiments=args.experiments,
                        onnx_index=args.onnx_index, partial=out.with_suffix(".partial.json"))
    res["command"] = "python -m bench.run " + " ".join(sys.argv[1:] if argv is None else argv)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(table(res))
    print(json.dumps(res["targets"], indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
