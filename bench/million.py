"""Retrieval at a million chunks: exact vs approximate FAISS, and the SQLite side, at one size.

    .venv/bin/python -m bench.million [--chunks 1000000] [--out bench/out/million.json]
        [--vectors-from INDEX_DIR] [--check-determinism] [--measure-rate 2000] [--embed-only]

**Chunks.** Sentence-level chunks of all 10k shared news articles
(``../shared/data/news-cnn-dm-10k.jsonl.gz``): every sentence (``rag.text.split_sentences``) is
one chunk, ~326k of them (~305k distinct texts).

**Vectors** (384-d, all-MiniLM-L6-v2, L2-normalised), real ones first, from:

- ``--vectors-from INDEX_DIR``: a built rag index: its ``sentence_vectors`` table (float16
  sentence vectors) when it has one, else its ``embeddings`` table (chunk vectors; the cached
  1k-article index has ~5.5k);
- otherwise the distinct sentences embedded here (``--model``, default the fp32 ONNX twin of
  all-MiniLM-L6-v2: cosine >= 0.9999998 to sentence-transformers and ~1.8x faster on 2 cores),
  cached in ``bench/out/cache/million/<model>/`` in parts of ``PART`` sentences, so a killed run
  resumes and a re-run never re-embeds. ``--measure-rate N`` embeds N sentences, prints the rate
  and the projected time for all of them, and stops; ``--embed-only`` embeds and stops;
  ``--embed-limit N`` embeds only the first N (a slice, for a quick check).

**Padding to N.** Past the real vectors, repeats with new ids, each vector perturbed: mixed with
another vector of the same article (weight ~U(0, ``MIX_MAX``)) plus Gaussian noise
(``NOISE_SIGMA`` per dimension) and renormalised: a copy lands about as far from its source as
real nearest neighbours are from each other (both medians are reported), so copies neither make
the test trivial (duplicates) nor degenerate (many equal points, which HNSW handles badly).
How many vectors are real is printed and stored in the JSON.

**Queries.** ``--queries`` (1,000) ``right_summary`` paragraphs of articles spread over the
data, embedded by the same model: real text, never in the base. Ground truth: exact
inner-product search (``IndexFlatIP``) over the same N vectors.

**Measured** for exact flat, HNSW at a few (M, efConstruction) x efSearch and IVF-PQ at a few
nprobe / re-ranking factors, all built by ``rag.vector_index.build_vector_index``: build time,
single-query search latency p50/p95 (k=10, FAISS threads as in production: the default, one per
core), recall@10 vs exact, memory per chunk (RSS growth of a fresh process reading the index
file and searching it) and file size per chunk. Plus flat latency at a few sizes (where exact
search stops being fast), and the SQLite side at N rows: a database with rag's schema
(``rag.store.SCHEMA``: documents, sentence-level chunks, FTS5), opened by ``rag.store.Store``
with the default vector index, queried exactly as a question is (``search_bm25`` with the query's
content words, ``search_vectors`` and ``passages`` with the retriever's 30 candidates), with
``EXPLAIN QUERY PLAN`` showing no full scan, and 2 threads sharing one connection vs one each.
FTS rows are sentence texts, repeated (with new document ids) past ~326k; their row ids are
the vector ids, so ``passages`` gets real rows.

Progress goes to stderr with elapsed times; a markdown table to stdout; the JSON to ``--out``
(a ``.partial.json`` beside it is rewritten after each step).
"""

from __future__ import annotations

import argparse
import gc
import gzip
import hashlib
import json
import os
import platform
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "news-cnn-dm-10k.jsonl.gz"
OUT = ROOT / "bench" / "out"
CACHE = OUT / "cache" / "million"
DIM = 384
K = 10  # recall@K and the latency target's k
CANDIDATES = 30  # what rag.retrieve.HybridRetriever asks each list for
PART = 8192  # sentences per cached embedding file
MIX_MAX = 0.5  # a copy mixes in up to this share of another vector of the same article
NOISE_SIGMA = 0.0316  # per-dimension noise: alone, it keeps cosine ~0.85 with the source
FLAT_LATENCY_QUERIES = 200  # flat search is slow at 1M: fewer single queries suffice
HNSW_BUILDS = "16x80,32x80"  # M x efConstruction built by default (--hnsw)
EF_SEARCHES = (32, 64, 128, 256)
IVF_SEARCHES = ((32, 1), (16, 4), (32, 4), (32, 8), (64, 8), (64, 16))  # (nprobe, k_factor)
FLAT_CURVE = (25_000, 50_000, 100_000, 200_000, 400_000)
SHORT_TERMS, RARE_TERMS = 6, 8  # BM25 variants: a question-like query; the rarest terms
TARGET_P50_MS, TARGET_RECALL = 20.0, 0.95


_T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - _T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if len(values) else float("nan")


def rss_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


# -- the data ----------------------------------------------------------------------------
@dataclass
class Corpus:
    ids: list[str]  # article ids
    texts: list[str]  # article bodies
    summaries: list[str]  # right_summary, the queries
    spans: list[tuple[int, int, int]]  # (article, start, end) of every sentence, in order

    def sentence(self, i: int) -> str:
        a, s, e = self.spans[i]
        return self.texts[a][s:e]


def read_corpus(path: Path = DATA) -> Corpus:
    from rag.text import split_sentences

    if not path.exists():
        raise SystemExit(f"{path} not found: the shared news data lives in ../shared/data/")
    c = Corpus([], [], [], [])
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            a = len(c.ids)
            c.ids.append(row["id"])
            c.texts.append(row["text"])
            c.summaries.append(" ".join(row["right_summary"].split()))
            c.spans.extend((a, s, e) for s, e in split_sentences(row["text"]))
    return c


def distinct_sentences(c: Corpus) -> tuple[list[str], np.ndarray]:
    """Distinct sentence texts in first-seen order, and the article each first appears in."""
    first: dict[str, int] = {}
    for a, s, e in c.spans:
        first.setdefault(c.texts[a][s:e], a)
    return list(first), np.fromiter(first.values(), dtype=np.int64, count=len(first))


def pick(n_items: int, n: int) -> list[int]:
    """``n`` evenly spaced positions of ``range(n_items)`` (deterministic)."""
    if n >= n_items:
        return list(range(n_items))
    return [int(i * n_items / n) for i in range(n)]


# -- real vectors ------------------------------------------------------------------------
@dataclass
class Real:
    vectors: np.ndarray  # (R, DIM) float32, normalised
    groups: np.ndarray  # (R,) article of each vector, for same-article mixing
    source: str  # what they are, said plainly
    articles: list[str]  # ids of the articles they come from (queries are drawn from these)


def _normalise(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def vectors_from_index(index_dir: Path) -> Real:
    """Real vectors from a built rag index: sentence vectors when it has them, else chunks'."""
    from rag.store import DB, current_generation

    gen = current_generation(index_dir)
    if gen is None:
        raise SystemExit(f"no rag index at {index_dir}")
    conn = sqlite3.connect(f"file:{gen / DB}?mode=ro", uri=True)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        rows: list[Any] = []
        if {"sentence_vectors", "sentences"} <= tables:
            rows = conn.execute(
                "SELECT v.vector, min(s.doc_id) FROM sentence_vectors v JOIN sentences s "
                "USING(text_hash) GROUP BY v.text_hash ORDER BY v.text_hash").fetchall()
            dtype, what = np.float16, "sentence vectors (float16, table sentence_vectors)"
        if not rows:
            rows = conn.execute(
                "SELECT e.vector, min(c.doc_id) FROM embeddings e JOIN chunks c "
                "USING(text_hash) GROUP BY e.text_hash ORDER BY e.text_hash").fetchall()
            dtype, what = np.float32, "chunk vectors (table embeddings)"
    finally:
        conn.close()
    if not rows:
        raise SystemExit(f"the index at {index_dir} holds no vectors")
    vecs = _normalise(np.stack([np.frombuffer(r[0], dtype=dtype) for r in rows]))
    docs = [r[1] for r in rows]
    names = sorted(set(docs))
    number = {d: i for i, d in enumerate(names)}
    return Real(vecs, np.array([number[d] for d in docs], dtype=np.int64),
                f"{len(rows):,} {what} of {gen}", [Path(d).stem for d in names])


def _embedder(model: str) -> Any:
    from rag.embed import get_embedder

    return get_embedder(model)


def measure_rate(c: Corpus, model: str, n: int, batch_size: int) -> dict[str, float]:
    texts, _ = distinct_sentences(c)
    emb = _embedder(model)
    emb.embed(["warm up"] * 8, batch_size=batch_size)
    t = time.perf_counter()
    emb.embed(texts[:n], batch_size=batch_size)
    rate = min(n, len(texts)) / (time.perf_counter() - t)
    return {"sentences": min(n, len(texts)), "per_s": rate, "distinct_sentences": len(texts),
            "projected_full_s": len(texts) / rate}


def embedded_sentences(c: Corpus, model: str, batch_size: int, limit: int | None,
                       cache: Path) -> Real:
    """Distinct sentences' vectors, embedded in parts of ``PART`` cached as .npy (resumable)."""
    texts, groups = distinct_sentences(c)
    folder = cache / model.replace("/", "_")
    folder.mkdir(parents=True, exist_ok=True)
    # Part p holds the vectors of texts[p * PART:(p + 1) * PART] of *all* distinct sentences,
    # so a run on a slice (--embed-limit) leaves parts a full run reuses.
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    stamp = folder / "stamp.json"
    if stamp.exists() and json.loads(stamp.read_text()).get("sentences") != digest:
        raise SystemExit(f"{folder} holds vectors of other sentences; delete it to re-embed")
    stamp.write_text(json.dumps({"sentences": digest, "part": PART, "model": model}))
    if limit is not None:
        texts, groups = texts[:limit], groups[:limit]
    n_parts = (len(texts) + PART - 1) // PART

    def path(p: int) -> Path:
        return folder / f"part-{p:05d}.npy"

    def ready(p: int) -> bool:  # a slice's last part may be short: then it is redone
        want = len(texts[p * PART:(p + 1) * PART])
        return path(p).exists() and len(np.load(path(p), mmap_mode="r")) >= want

    todo = [p for p in range(n_parts) if not ready(p)]
    if todo:
        from tqdm import tqdm

        emb = _embedder(model)
        left = sum(len(texts[p * PART:(p + 1) * PART]) for p in todo)
        log(f"embedding {left:,} of {len(texts):,} distinct sentences with {model} "
            f"(cached in {folder})")
        with tqdm(total=left, unit="sent", file=sys.stderr, mininterval=2) as bar:
            for p in todo:
                part = texts[p * PART:(p + 1) * PART]
                vecs = emb.embed(part, batch_size=batch_size)
                tmp = folder / f"part-{p:05d}.tmp.npy"
                np.save(tmp, vecs.astype(np.float32))
                os.replace(tmp, path(p))  # a killed run never leaves half a part
                bar.update(len(part))
    vecs = np.concatenate([np.load(path(p)) for p in range(n_parts)])
    vecs = _normalise(vecs[: len(texts)])
    used = sorted({c.ids[int(g)] for g in np.unique(groups)})
    return Real(vecs, groups, f"{len(texts):,} distinct sentences of "
                f"{len(used):,} articles embedded with {model}", used)


def query_vectors(c: Corpus, real: Real, n: int, model: str, cache: Path
                  ) -> tuple[np.ndarray, list[str]]:
    """``right_summary`` vectors of ``n`` articles spread over those the base comes from."""
    number = {a: i for i, a in enumerate(c.ids)}
    arts = [number[a] for a in real.articles if a in number]
    chosen = [arts[i] for i in pick(len(arts), n)]
    texts = [c.summaries[a] for a in chosen]
    key = hashlib.sha256(("\n".join(texts) + model).encode()).hexdigest()[:16]
    path = cache / f"queries-{key}.npy"
    if path.exists():
        return np.load(path), texts
    log(f"embedding {len(texts)} query summaries with {model}")
    vecs = _embedder(model).embed(texts, batch_size=32)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vecs)
    return vecs, texts


# -- padding to N ------------------------------------------------------------------------
def grow(real: Real, n: int, seed: int = 0) -> tuple[np.ndarray, dict[str, Any]]:
    """``n`` vectors: the real ones, then perturbed repeats (see the module docstring)."""
    r = len(real.vectors)
    out = np.empty((n, DIM), dtype=np.float32)
    out[: min(n, r)] = real.vectors[: min(n, r)]
    members: dict[int, np.ndarray] = {}
    order = np.argsort(real.groups, kind="stable")
    bounds = np.searchsorted(real.groups[order], np.unique(real.groups), side="left")
    for g, lo, hi in zip(np.unique(real.groups), bounds, [*bounds[1:], r], strict=True):
        members[int(g)] = order[lo:hi]
    done, rep = r, 0
    while done < n:
        rep += 1
        rng = np.random.default_rng(seed + rep)
        take = min(r, n - done)
        src = np.arange(take)
        partner = np.empty(take, dtype=np.int64)
        pick_r = rng.random(take)
        for i in range(take):  # another vector of the same article (itself if it is alone)
            m = members[int(real.groups[i])]
            partner[i] = m[int(pick_r[i] * len(m))]
        for lo in range(0, take, 65536):
            s = src[lo:lo + 65536]
            x = real.vectors[s]
            w = rng.uniform(0, MIX_MAX, (len(s), 1)).astype(np.float32)
            v = x + w * (real.vectors[partner[s]] - x)
            v += NOISE_SIGMA * rng.standard_normal(v.shape, dtype=np.float32)
            out[done + lo:done + lo + len(s)] = _normalise(v)
        done += take
    info: dict[str, Any] = {
        "n": n, "real": min(n, r), "synthetic": max(0, n - r), "repeats": rep,
        "perturbation": f"copy i of repeat j (row j*R+i, id row+1): normalise(x_i + "
                        f"w*(x_p - x_i) + {NOISE_SIGMA}*N(0, I)), p another vector of the same "
                        "article, "
                        f"w ~ U(0, {MIX_MAX}); seed {seed}+j",
    }
    if n > r:
        m = min(5000, n - r, r)  # repeat 1 copies real vectors 0..m-1
        info["median_cos_copy_to_source"] = float(np.median(
            np.sum(out[r:r + m] * real.vectors[:m], axis=1)))
    sample = real.vectors[pick(r, min(r, 1000))]
    best = np.full(len(sample), -1.0, dtype=np.float32)
    for lo in range(0, r, 20_000):
        sims = sample @ real.vectors[lo:lo + 20_000].T
        sims[sims > 0.99999] = -1  # itself (and exact duplicates)
        best = np.maximum(best, sims.max(axis=1))
    info["median_cos_real_nearest_neighbour"] = float(np.median(best))
    return out, info


# -- FAISS measurements ------------------------------------------------------------------
_LOAD = r"""
import json, sys, time
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
import faiss, numpy as np
from rag.vector_index import configure_for_search
q = np.load(sys.argv[3])
base = rss(); t = time.perf_counter()
index = faiss.read_index(sys.argv[1])
configure_for_search(index, json.loads(sys.argv[2]))
load_s = time.perf_counter() - t
for v in q:
    index.search(v[None], 10)
print(json.dumps({"rss_bytes": rss() - base, "load_s": load_s}))
"""


def loaded_memory(path: Path, desc: dict[str, Any], queries: np.ndarray) -> dict[str, Any]:
    """RSS growth of a fresh process that reads the index file and searches it."""
    qfile = path.with_suffix(".q.npy")
    np.save(qfile, queries[:50])
    out = subprocess.run([sys.executable, "-c", _LOAD, str(path), json.dumps(desc), str(qfile)],
                         capture_output=True, text=True, cwd=ROOT, check=True)
    qfile.unlink()
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def single_queries(index: Any, queries: np.ndarray, k: int = K) -> tuple[np.ndarray, list[float]]:
    """Each query alone, as a question is searched: ids found, and ms per query."""
    for q in queries[:20]:  # warm
        index.search(q[None], k)
    found, ms = [], []
    for q in queries:
        t = time.perf_counter()
        _, ids = index.search(q[None], k)
        ms.append(1000 * (time.perf_counter() - t))
        found.append(ids[0])
    return np.array(found), ms


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    k = exact.shape[1]
    return float(np.mean([len(set(a[a >= 0]) & set(b)) / k
                          for a, b in zip(found, exact, strict=True)]))


def measure_index(index: Any, desc: dict[str, Any], build_s: float, queries: np.ndarray,
                  exact: np.ndarray, n: int, work: Path, settings: Sequence[dict[str, Any]]
                  ) -> list[dict[str, Any]]:
    """One row per search setting of a built index (file size and memory are shared)."""
    import faiss

    from rag.vector_index import configure_for_search

    path = work / f"{desc['kind']}.faiss"
    faiss.write_index(index, str(path))
    size = path.stat().st_size
    rows = []
    for extra in settings:
        d = {**desc, **extra}
        configure_for_search(index, d)
        qs = queries[:FLAT_LATENCY_QUERIES] if d["kind"] == "flat" else queries
        found, ms = single_queries(index, qs)
        mem = loaded_memory(path, d, queries) if extra is settings[0] else rows[0]["_mem"]
        rows.append({
            "index": d, "build_s": build_s, "p50_ms": pct(ms, 50), "p95_ms": pct(ms, 95),
            "latency_queries": len(qs), f"recall@{K}": recall(found, exact[: len(qs)]),
            "rss_bytes_per_chunk": mem["rss_bytes"] / n, "file_bytes_per_chunk": size / n,
            "file_bytes": size, "load_s": mem["load_s"], "_mem": mem,
        })
        log(f"  {label(d)}: p50 {rows[-1]['p50_ms']:.3f} ms, recall@{K} "
            f"{rows[-1][f'recall@{K}']:.4f}")
    path.unlink()
    for r in rows:
        r.pop("_mem")
    return rows


def label(d: dict[str, Any]) -> str:
    if d["kind"] == "hnsw":
        return f"HNSW M={d['M']} efC={d['ef_construction']} efSearch={d['ef_search']}"
    if d["kind"] == "ivfpq":
        return (f"IVF{d['nlist']},PQ{d['pq_m']}x{d['pq_bits']}+SQ8 nprobe={d['nprobe']} "
                f"k_factor={d['k_factor']}")
    return "exact IDMap2,FlatIP"


def build(kind: str, ids: np.ndarray, base: np.ndarray, **consts: int) -> tuple[Any, dict, float]:
    """``build_vector_index`` with some module constants changed for this build."""
    from rag import vector_index as vi

    saved = {k: getattr(vi, k) for k in consts}
    try:
        for k, v in consts.items():
            setattr(vi, k, v)
        t = time.perf_counter()
        index, desc = vi.build_vector_index(ids, base, DIM, kind=kind)
        return index, desc, time.perf_counter() - t
    finally:
        for k, v in saved.items():
            setattr(vi, k, v)


def flat_curve(base: np.ndarray, queries: np.ndarray) -> list[dict[str, float]]:
    """Exact single-query latency at a few sizes, with the default FAISS threads and one."""
    import faiss

    threads = faiss.omp_get_max_threads()
    out = []
    for n in [s for s in FLAT_CURVE if s < len(base)]:
        idx = faiss.IndexFlatIP(DIM)
        idx.add(base[:n])
        _, ms = single_queries(idx, queries[:FLAT_LATENCY_QUERIES])
        faiss.omp_set_num_threads(1)
        _, ms1 = single_queries(idx, queries[:FLAT_LATENCY_QUERIES])
        faiss.omp_set_num_threads(threads)
        out.append({"n": n, "p50_ms": pct(ms, 50), "p95_ms": pct(ms, 95),
                    "p50_ms_1thread": pct(ms1, 50), "p95_ms_1thread": pct(ms1, 95)})
        log(f"  flat at {n:,}: p50 {out[-1]['p50_ms']:.2f} ms, 1 thread "
            f"{out[-1]['p50_ms_1thread']:.2f} ms")
        del idx
    return out


def determinism(base: np.ndarray, ids: np.ndarray) -> dict[str, Any]:
    """The default HNSW built twice on all cores and once on one: are the files identical?"""
    import faiss

    from rag.vector_index import build_vector_index

    threads = faiss.omp_get_max_threads()
    digests, secs = [], []
    for t in (threads, threads, 1):
        faiss.omp_set_num_threads(t)
        t0 = time.perf_counter()
        index, _ = build_vector_index(ids, base, DIM, kind="hnsw")
        secs.append(time.perf_counter() - t0)
        digests.append(hashlib.sha256(faiss.serialize_index(index).tobytes()).hexdigest())
        del index
    faiss.omp_set_num_threads(threads)
    log(f"  determinism: {threads} threads twice, 1 thread: identical "
        f"{len(set(digests)) == 1} ({', '.join(f'{s:.0f} s' for s in secs)})")
    return {"n": len(base), "threads": [threads, threads, 1], "build_s": secs,
            "sha256": digests, "identical": len(set(digests)) == 1}


# -- SQLite ------------------------------------------------------------------------------
def build_sqlite(c: Corpus, n: int, path: Path) -> dict[str, Any]:
    """rag's schema with ``n`` sentence-level chunks (row ids 1..n), repeating the articles
    with new document ids past the real sentences; FTS5 rows are title + sentence, as rag's."""
    from rag.store import SCHEMA, text_hash

    done = path.with_suffix(".done")
    if path.exists() and done.exists():
        return dict(json.loads(done.read_text()))
    path.unlink(missing_ok=True)
    t0 = time.perf_counter()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=OFF")  # a bench scratch file: speed over safety
    conn.execute("PRAGMA synchronous=OFF")
    conn.executescript(SCHEMA)
    rowid, rep = 0, 0
    by_article: dict[int, list[tuple[int, int]]] = {}
    for a, s, e in c.spans:
        by_article.setdefault(a, []).append((s, e))
    while rowid < n:
        for a, doc_text in enumerate(c.texts):
            if rowid >= n:
                break
            sents = by_article.get(a, [])[: n - rowid]
            doc_id = c.ids[a] if rep == 0 else f"{c.ids[a]}~r{rep}"
            title = f"Cnndm {c.ids[a].split('-')[-1]}" + (f" r{rep}" if rep else "")
            conn.execute(
                "INSERT INTO documents(doc_id, title, author, outlet, date, source_hash, text,"
                " text_hash, n_chunks) VALUES (?, ?, NULL, NULL, NULL, ?, ?, ?, ?)",
                (doc_id, title, text_hash(doc_id), doc_text, text_hash(doc_text), len(sents)))
            chunks, fts = [], []
            for pos, (s, e) in enumerate(sents):
                rowid += 1
                sent = doc_text[s:e]
                chunks.append((rowid, f"{doc_id}#{pos}", doc_id, pos, s, e, text_hash(sent),
                               json.dumps([[s, e]])))
                fts.append((rowid, f"{title}\n{sent}"))
            conn.executemany('INSERT INTO chunks(id, chunk_id, doc_id, position, start, "end",'
                             " text_hash, sentences) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", chunks)
            conn.executemany("INSERT INTO chunks_fts(rowid, text) VALUES (?, ?)", fts)
        rep += 1
        log(f"  sqlite: {rowid:,} chunk rows")
    conn.commit()
    conn.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('optimize')")  # as after a build
    conn.commit()
    conn.execute("VACUUM")
    conn.close()
    info = {"rows": rowid, "article_repeats": rep, "build_s": time.perf_counter() - t0,
            "file_bytes": path.stat().st_size, "file_bytes_per_chunk": path.stat().st_size / n}
    done.write_text(json.dumps(info))
    return info


_FTS_SQL = ("SELECT rowid, bm25(chunks_fts) AS s FROM chunks_fts WHERE chunks_fts MATCH ? "
            "ORDER BY s LIMIT ?")  # rag.store.Store.search_bm25's query
_PASSAGES_SQL = ('SELECT c.id, c.chunk_id, c.doc_id, c.start, c."end", c.sentences, d.title, '
                 'd.outlet, substr(d.text, c.start + 1, c."end" - c.start) AS text '
                 "FROM chunks c JOIN documents d USING(doc_id) WHERE c.id IN (?, ?, ?)")


def plan(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[str]:
    return [str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]


def full_scan(lines: Sequence[str]) -> bool:
    """A plan line that reads a whole table: ``SCAN t`` without an index, or a virtual table
    scanned without its MATCH constraint (FTS5 marks a MATCH with ``M`` in the index string)."""
    for line in lines:
        if not line.startswith("SCAN"):
            continue
        if "VIRTUAL TABLE INDEX" in line:
            if "M" not in line.split("INDEX", 1)[1]:
                return True
        elif " USING " not in line:
            return True
    return False


def sqlite_side(c: Corpus, n: int, work: Path, index_file: Path, desc: dict[str, Any],
                queries: np.ndarray, texts: Sequence[str]) -> dict[str, Any]:
    """A rag generation folder at N chunks (the SQLite above + the default vector index,
    written by ``build_vector_index``), opened by ``rag.store.Store`` and queried as a
    question is."""
    import faiss

    from rag.store import DB, FORMAT_VERSION, MANIFEST, VECTORS, Store, connect
    from rag.text import content_words

    db = CACHE / f"sqlite-{n}.sqlite"
    info = build_sqlite(c, n, db)
    gen = work / "gen-000001"
    gen.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(db, gen / DB)
    os.replace(index_file, gen / VECTORS)
    manifest = {"format_version": FORMAT_VERSION, "dimension": DIM, "n_chunks": n,
                "embedding_model": "all-MiniLM-L6-v2", "faiss_index": desc}
    (gen / MANIFEST).write_text(json.dumps(manifest))
    store = Store(gen, manifest)  # reads the index and calls configure_for_search
    terms = [content_words(t) for t in texts]
    for q in terms[:20]:
        store.search_bm25(q, CANDIDATES)
    res: dict[str, Any] = {**info, "queries": len(terms),
                           "terms_per_query_median": pct([len(t) for t in terms], 50)}
    res.update(_store_loop(store, queries, terms))
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    m = min(len(terms), 200)
    res["one_faiss_thread"] = _store_loop(store, queries[:m], terms[:m])
    faiss.omp_set_num_threads(threads)
    matches = []
    for q in terms[:100]:
        matches.append(store.conn.execute(
            "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (_expr(q),)).fetchone()[0])
    res["matching_rows_median"], res["matching_rows_p95"] = pct(matches, 50), pct(matches, 95)
    res["bm25_variants"] = _bm25_variants(store, terms[:m], texts[:m], content_words)
    plans = {"search_bm25": plan(store.conn, _FTS_SQL, (_expr(terms[0]), CANDIDATES)),
             "passages": plan(store.conn, _PASSAGES_SQL, (1, 2, 3))}
    res["query_plans"] = plans
    res["full_scan"] = {k: full_scan(v) for k, v in plans.items()}
    res["threads"] = _threads(store, gen / DB, terms[:200], connect)
    store.close()
    shutil.rmtree(gen)
    log(f"  Store at {n:,}: bm25 p50 {res['search_bm25_k30_ms']['p50']:.1f} ms, passages p50 "
        f"{res['passages_ms']['p50']:.2f} ms, vectors+bm25+passages p50 "
        f"{res['retrieval_ms']['p50']:.1f} ms; plans {plans}")
    return res


def _expr(terms: Sequence[str]) -> str:
    """The MATCH expression ``Store.search_bm25`` makes of its terms."""
    return " OR ".join(f'"{t}"' for t in dict.fromkeys(terms))


def _store_loop(store: Any, queries: np.ndarray, terms: Sequence[Sequence[str]]
                ) -> dict[str, dict[str, float]]:
    """Each query as the retriever runs it: vectors, BM25, then the passages of both lists."""
    t_vec, t_bm25, t_pass, t_all = [], [], [], []
    for qv, q in zip(queries, terms, strict=True):
        t0 = time.perf_counter()
        dense = store.search_vectors(qv, CANDIDATES)
        t1 = time.perf_counter()
        lexical = store.search_bm25(q, CANDIDATES)
        t2 = time.perf_counter()
        store.passages(dict.fromkeys([i for i, _ in dense] + [i for i, _ in lexical]))
        t3 = time.perf_counter()
        t_vec.append(1000 * (t1 - t0))
        t_bm25.append(1000 * (t2 - t1))
        t_pass.append(1000 * (t3 - t2))
        t_all.append(1000 * (t3 - t0))
    return {key: {"p50": pct(v, 50), "p95": pct(v, 95)} for key, v in (
        ("search_vectors_k30_ms", t_vec), ("search_bm25_k30_ms", t_bm25),
        ("passages_ms", t_pass), ("retrieval_ms", t_all))}


def _bm25_variants(store: Any, terms: Sequence[Sequence[str]], texts: Sequence[str],
                   content_words: Callable[[str], list[str]]) -> dict[str, Any]:
    """What query length costs: a short question-like query (the first ``SHORT_TERMS``
    content words of the summary), and the full query cut to its ``RARE_TERMS`` rarest
    terms (document frequencies from an fts5vocab table, looked up once, outside the timing),
    with the share of the full query's top 30 that it keeps."""
    import snowballstemmer

    stem = snowballstemmer.stemmer("porter")
    store.conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.vocab "
                       "USING fts5vocab(main, chunks_fts, 'row')")
    df: dict[str, int] = {}

    def freq(t: str) -> int:
        if t not in df:
            row = store.conn.execute("SELECT doc FROM temp.vocab WHERE term = ?",
                                     (stem.stemWord(t.lower()),)).fetchone()
            df[t] = int(row[0]) if row else 0
        return df[t]

    short = [content_words(t)[:SHORT_TERMS] for t in texts]
    rare = [sorted(dict.fromkeys(q), key=freq)[:RARE_TERMS] for q in terms]
    out: dict[str, Any] = {}
    for name, qs in (("short", short), ("rarest", rare)):
        ms, kept = [], []
        for full, q in zip(terms, qs, strict=True):
            t = time.perf_counter()
            got = store.search_bm25(q, CANDIDATES)
            ms.append(1000 * (time.perf_counter() - t))
            if name == "rarest":
                want = {i for i, _ in store.search_bm25(full, CANDIDATES)}
                kept.append(len(want & {i for i, _ in got}) / max(1, len(want)))
        out[name] = {"terms": SHORT_TERMS if name == "short" else RARE_TERMS,
                     "p50_ms": pct(ms, 50), "p95_ms": pct(ms, 95), "queries": len(qs)}
        if kept:
            out[name]["top30_kept"] = float(np.mean(kept))
    return out


def _threads(store: Any, db: Path, terms: Sequence[Sequence[str]],
             connect: Callable[..., sqlite3.Connection]) -> dict[str, float]:
    """2 threads running BM25 queries: sharing ``store.conn`` vs one connection each (the
    terms ``Store.search_bm25`` would score, chosen beforehand)."""
    scored = [store.bm25_terms(q) for q in terms]

    def run(own: bool) -> float:
        def work(part: Sequence[Sequence[str]]) -> None:
            conn = connect(db, readonly=True) if own else store.conn
            for q in part:
                conn.execute(_FTS_SQL, (_expr(q), CANDIDATES)).fetchall()
            if own:
                conn.close()
        ts = [threading.Thread(target=work, args=(scored[i::2],)) for i in range(2)]
        t0 = time.perf_counter()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return len(terms) / (time.perf_counter() - t0)

    one = len(terms) / sum(_timed(lambda q=q: store.search_bm25(q, CANDIDATES)) for q in terms)
    return {"one_thread_qps": one, "two_threads_shared_connection_qps": run(False),
            "two_threads_own_connections_qps": run(True)}


def _timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


# -- the run -----------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict[str, Any]:
    import faiss

    from rag import vector_index as vi

    n = args.chunks
    res: dict[str, Any] = {
        "chunks": n, "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                 "faiss": faiss.__version__,
                                 "faiss_threads": faiss.omp_get_max_threads(),
                                 "load_average_start": os.getloadavg()},
        "defaults": {k: getattr(vi, k) for k in (
            "EXACT_MAX_VECTORS", "HNSW_M", "HNSW_EF_CONSTRUCTION", "HNSW_EF_SEARCH",
            "IVF_NPROBE", "REFINE_K_FACTOR", "PQ_M")},
    }
    partial = args.out.with_suffix(".partial.json")

    def save() -> None:
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(json.dumps(res, indent=2, default=float))

    log(f"reading {args.data}")
    c = read_corpus(args.data)
    log(f"{len(c.ids):,} articles, {len(c.spans):,} sentences")
    if args.measure_rate:
        rate = measure_rate(c, args.model, args.measure_rate, args.batch_size)
        log(f"{args.model}: {rate['per_s']:.0f} sentences/s on {rate['sentences']:,}; all "
            f"{rate['distinct_sentences']:,} distinct sentences would take "
            f"{rate['projected_full_s'] / 60:.1f} min")
        return {"embedding_rate": rate}
    if args.vectors_from:
        real = vectors_from_index(args.vectors_from)
    else:
        real = embedded_sentences(c, args.model, args.batch_size, args.embed_limit, CACHE)
    log(f"real vectors: {real.source}")
    if args.embed_only:
        return {"real_vectors": real.source}
    queries, qtexts = query_vectors(c, real, args.queries, args.model, CACHE)
    base, data = grow(real, n)
    data["real_source"] = real.source
    data["queries"] = (f"{len(queries)} right_summary paragraphs (never in the base) of articles "
                       "spread over those the base comes from, embedded by the same model")
    res["data"] = data
    log(f"base: {n:,} vectors, {data['real']:,} real, {data['synthetic']:,} perturbed copies "
        f"({data['repeats']} repeats); median cosine copy-to-source "
        f"{data.get('median_cos_copy_to_source', float('nan')):.3f}, real nearest neighbour "
        f"{data['median_cos_real_nearest_neighbour']:.3f}")
    ids = np.arange(1, n + 1, dtype=np.int64)  # = chunk row ids of the SQLite side
    work = Path(tempfile.mkdtemp(prefix="million-", dir=CACHE))
    rows: list[dict[str, Any]] = []
    try:
        log("exact flat: build, ground truth")
        index, desc, secs = build("flat", ids, base)
        _, exact = index.search(queries, K)
        rows += measure_index(index, desc, secs, queries, exact, n, work, [{}])
        del index
        gc.collect()
        res["flat_curve"] = flat_curve(base, queries)
        save()
        chosen: Any = None
        for m, efc in (tuple(map(int, b.split("x"))) for b in args.hnsw.split(",")):
            log(f"HNSW M={m} efConstruction={efc}: building")
            index, desc, secs = build("hnsw", ids, base, HNSW_M=m, HNSW_EF_CONSTRUCTION=efc)
            log(f"  built in {secs:.1f} s")
            rows += measure_index(index, desc, secs, queries, exact, n, work,
                                  [{"ef_search": ef} for ef in EF_SEARCHES])
            if (m, efc) == (vi.HNSW_M, vi.HNSW_EF_CONSTRUCTION):
                chosen = (index, desc)
            else:
                del index
            gc.collect()
            save()
        if chosen is None:
            log("HNSW with the module's defaults: building")
            index, desc, secs = build("hnsw", ids, base)
            rows += measure_index(index, desc, secs, queries, exact, n, work, [{}])
            chosen = (index, desc)
        vi.configure_for_search(*chosen)  # measure_index left the last efSearch set
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)  # on a busy machine OpenMP's second thread can stall
        _, ms = single_queries(chosen[0], queries)
        faiss.omp_set_num_threads(threads)
        res["default_one_thread"] = {"p50_ms": pct(ms, 50), "p95_ms": pct(ms, 95)}
        log(f"  default HNSW with 1 FAISS thread: p50 {pct(ms, 50):.3f} ms, "
            f"p95 {pct(ms, 95):.3f} ms")
        if not args.skip_ivfpq and n >= vi.IVF_MIN_VECTORS:
            log("IVF-PQ: training and adding")
            index, desc, secs = build("ivfpq", ids, base)
            log(f"  built in {secs:.1f} s")
            rows += measure_index(index, desc, secs, queries, exact, n, work,
                                  [{"nprobe": p, "k_factor": f} for p, f in IVF_SEARCHES])
            del index
            gc.collect()
            save()
        if len(real.vectors) >= vi.EXACT_MAX_VECTORS and n > len(real.vectors):
            log(f"the default HNSW on the {len(real.vectors):,} real vectors alone")
            rids = ids[: len(real.vectors)]
            flat, _, _ = build("flat", rids, real.vectors)
            _, rexact = flat.search(queries, K)
            del flat
            index, desc, secs = build("hnsw", rids, real.vectors)
            res["real_only"] = measure_index(index, desc, secs, queries, rexact,
                                             len(rids), work, [{}])[0]
            del index
            save()
        res["faiss"] = rows
        if args.check_determinism:
            m = min(n, args.determinism_size)
            log(f"determinism of the default HNSW build on {m:,} vectors")
            res["determinism"] = determinism(base[:m], ids[:m])
            save()
        if not args.skip_sqlite:
            log(f"SQLite: rag's schema with {n:,} sentence chunks")
            # Only the Store's copy of the default index stays in memory from here on.
            chosen_file = work / "default.faiss"
            faiss.write_index(chosen[0], str(chosen_file))
            desc = chosen[1]
            del chosen, base
            gc.collect()
            res["sqlite"] = sqlite_side(c, n, work, chosen_file, desc, queries, qtexts)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    res["faiss"] = rows
    res["default_row"] = next((r for r in rows if _is_default(r["index"])), None)
    d = res["default_row"]
    if d:
        res["target"] = {"p50_ms_max": TARGET_P50_MS, "recall_min": TARGET_RECALL,
                         "met": d["p50_ms"] <= TARGET_P50_MS and d[f"recall@{K}"] >= TARGET_RECALL}
    res["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    res["machine"]["load_average_end"] = os.getloadavg()
    save()
    return res


def _is_default(d: dict[str, Any]) -> bool:
    from rag import vector_index as vi

    return bool(d["kind"] == "hnsw" and d["M"] == vi.HNSW_M
                and d["ef_construction"] == vi.HNSW_EF_CONSTRUCTION
                and d["ef_search"] == vi.HNSW_EF_SEARCH)


def table(res: dict[str, Any]) -> str:
    d = res["data"]
    lines = [
        f"**{res['chunks']:,} vectors**: {d['real']:,} real ({d['real_source']}), "
        f"{d['synthetic']:,} perturbed copies with new ids ({d['repeats']} repeats). "
        f"Queries: {d['queries']}. FAISS threads: {res['machine']['faiss_threads']}.",
        "",
        f"| index | build s | p50 ms | p95 ms | recall@{K} | RSS B/chunk | file B/chunk | load s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    def row(r: dict[str, Any], name: str) -> str:
        return (f"| {name} | {r['build_s']:.1f} | {r['p50_ms']:.3f} | {r['p95_ms']:.3f} | "
                f"{r[f'recall@{K}']:.4f} | {r['rss_bytes_per_chunk']:.0f} | "
                f"{r['file_bytes_per_chunk']:.0f} | {r['load_s']:.2f} |")

    for r in res["faiss"]:
        mark = " **(default)**" if _is_default(r["index"]) else ""
        lines.append(row(r, label(r["index"]) + mark))
    if "real_only" in res:
        r = res["real_only"]
        lines.append(row(r, f"{label(r['index'])}, real vectors only ({d['real']:,})"))
    if res.get("default_one_thread"):
        o = res["default_one_thread"]
        lines += ["", f"Default HNSW with faiss.omp_set_num_threads(1): p50 {o['p50_ms']:.3f} ms, "
                  f"p95 {o['p95_ms']:.3f} ms."]
    if res.get("flat_curve"):
        lines += ["", "Exact flat single-query latency by size (p50 / p95 ms; with 1 FAISS "
                  "thread): " + ", ".join(
                      f"{p['n']:,}: {p['p50_ms']:.1f} / {p['p95_ms']:.1f} "
                      f"({p['p50_ms_1thread']:.1f} / {p['p95_ms_1thread']:.1f})"
                      for p in res["flat_curve"])]
    if "determinism" in res:
        det = res["determinism"]
        lines += ["", f"Determinism ({det['n']:,} vectors, threads {det['threads']}): files "
                  f"identical: {det['identical']}; build s "
                  + ", ".join(f"{s:.0f}" for s in det["build_s"])]
    s = res.get("sqlite")
    if s:
        lines += [
            "", f"SQLite at {s['rows']:,} chunk rows ({s['file_bytes_per_chunk']:.0f} B/chunk, "
            f"{s['queries']} queries, median {s['terms_per_query_median']:.0f} OR-ed terms, "
            f"median {s['matching_rows_median']:,.0f} matching rows):", "",
            "| step (Store method, k=30) | p50 ms | p95 ms | p50 / p95 ms, 1 FAISS thread |",
            "|---|---|---|---|"]
        one = s["one_faiss_thread"]
        for key, name in (("search_vectors_k30_ms", "search_vectors (default index)"),
                          ("search_bm25_k30_ms", "search_bm25"), ("passages_ms", "passages"),
                          ("retrieval_ms", "all three")):
            lines.append(f"| {name} | {s[key]['p50']:.2f} | {s[key]['p95']:.2f} | "
                         f"{one[key]['p50']:.2f} / {one[key]['p95']:.2f} |")
        v = s["bm25_variants"]
        lines += ["", f"search_bm25 with a short query (first {v['short']['terms']} content "
                  f"words): p50 {v['short']['p50_ms']:.1f} / p95 {v['short']['p95_ms']:.1f} ms;"
                  f" with the {v['rarest']['terms']} rarest terms of the full query: p50 "
                  f"{v['rarest']['p50_ms']:.1f} / p95 {v['rarest']['p95_ms']:.1f} ms, keeping "
                  f"{v['rarest']['top30_kept']:.2f} of its top 30."]
        lines += ["", "Query plans: " + "; ".join(
            f"{k}: {' / '.join(v)} (full scan: {s['full_scan'][k]})"
            for k, v in s["query_plans"].items())]
        t = s["threads"]
        lines.append(f"BM25 queries/s: 1 thread {t['one_thread_qps']:.0f}; 2 threads sharing "
                     f"one connection {t['two_threads_shared_connection_qps']:.0f}; 2 threads, "
                     f"a connection each {t['two_threads_own_connections_qps']:.0f}")
    if res.get("target"):
        t = res["target"]
        lines += ["", f"Target (p50 <= {t['p50_ms_max']} ms at recall@{K} >= {t['recall_min']}"
                  f"): {'met' if t['met'] else 'NOT met'} by the default index."]
    lines.append(f"Peak RSS of the benchmark: {res['peak_rss_bytes'] / 2**30:.2f} GiB")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.million", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--chunks", type=int, default=1_000_000)
    p.add_argument("--out", type=Path, default=OUT / "million.json")
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--vectors-from", type=Path,
                   help="a built rag index whose vectors are the real ones (else: embed)")
    p.add_argument("--model", default="all-MiniLM-L6-v2+onnx",
                   help="embedding model for sentences and queries (default: fp32 ONNX twin)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--embed-limit", type=int, help="embed only the first N distinct sentences")
    p.add_argument("--embed-only", action="store_true",
                   help="embed (and cache) the sentences, then stop")
    p.add_argument("--measure-rate", type=int, metavar="N",
                   help="embed N sentences, print the rate and the projected time, stop")
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--check-determinism", action="store_true",
                   help="build the default HNSW 3 times (all threads twice, 1 thread) and compare")
    p.add_argument("--determinism-size", type=int, default=200_000)
    p.add_argument("--hnsw", default=HNSW_BUILDS,
                   help=f"HNSW builds to measure, MxefConstruction,... (default {HNSW_BUILDS})")
    p.add_argument("--skip-ivfpq", action="store_true")
    p.add_argument("--skip-sqlite", action="store_true")
    args = p.parse_args(argv)
    CACHE.mkdir(parents=True, exist_ok=True)
    res = run(args)
    if "embedding_rate" in res or "real_vectors" in res:
        print(json.dumps(res, indent=2))
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2, default=float))
    args.out.with_suffix(".partial.json").unlink(missing_ok=True)
    print(table(res))
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
