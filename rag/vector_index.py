"""Vector index: which FAISS index holds the chunk vectors, built once, described in the manifest.

Small indexes are searched exactly (``IDMap2,FlatIP``: every vector is compared). Past
``EXACT_MAX_VECTORS`` an exact search stops being fast (single-query p50 on this 2-core machine
with one FAISS thread: 1.3 ms at 25k vectors, 2.5 ms at 50k, 5.5 ms at 100k; ``bench.million``),
so the vectors go into an HNSW graph (``IndexHNSWFlat`` inside ``IndexIDMap2``): approximate,
with its parameters chosen by measured recall@10 against exact search on real news sentence
vectors. IVF-PQ (``ivfpq``) is a memory-saving option, chosen by name only: ~28% of HNSW's
memory per vector, at a lower recall (0.983 vs 0.999 at 200k vectors).

``build_vector_index`` returns the index and a description (a JSON-able dict, stored as the
manifest's ``faiss_index``); ``configure_for_search`` applies the description's search-time
parameters (HNSW ``efSearch``, IVF ``nprobe``, the re-ranking factor) after
``faiss.read_index``. FAISS keeps them in the file too; applying them makes the manifest the
record of what runs. A manifest written before this module existed says ``"IDMap2,FlatIP"`` (a
string): exact, nothing to set.

Builds are deterministic: the same ids and vectors in the same order give the same file
(HNSW draws its levels from a fixed seed; adding with 2 threads twice and with 1 thread gave
byte-identical files for 100k vectors: ``bench.million --check-determinism``;
IVF trains on a fixed sample with FAISS's fixed k-means seed).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> vecs = rng.standard_normal((300, 8)).astype(np.float32)
>>> vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
>>> ids = np.arange(1, 301, dtype=np.int64)
>>> index, desc = build_vector_index(ids, vecs, 8)
>>> desc["kind"], index.ntotal
('flat', 300)
>>> index, desc = build_vector_index(ids, vecs, 8, exact_max=100)
>>> desc["kind"], desc["M"], desc["ef_search"]
('hnsw', 32, 128)
>>> configure_for_search(index, desc)
>>> int(index.search(vecs[:1], 1)[1][0][0])
1
>>> configure_for_search(index, "IDMap2,FlatIP")  # an old manifest: nothing to set
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

__all__ = [
    "EXACT_MAX_VECTORS", "KINDS", "build_vector_index", "choose_kind", "configure_for_search",
    "kind_of",
]

KINDS = ("flat", "hnsw", "ivfpq")

# -- the tunables, each named once (measured by ``python -m bench.million``) -----------------
# Up to this many vectors the search is exact; above it, HNSW. Exact single-query p50 grows
# linearly: 2.5 ms at 50k vectors, 5.5 ms at 100k (one FAISS thread; several times that when
# OpenMP's second thread must be woken on a busy machine), while HNSW stays under a millisecond.
EXACT_MAX_VECTORS = 50_000
# HNSW: links per node (layer 0 has 2 * M). On the news vectors 16 and 32 are as good (recall@10
# 0.9990 vs 0.9993 at 200k, efSearch 128); 32 held up better in an exploratory run on a harder
# mix (few real vectors, noisier copies, efConstruction 40: 0.94 vs 0.88), for 2 * 16 * 4 = 128
# bytes a vector more (1,871 vs 1,743 bytes resident at 200k).
HNSW_M = 32
# HNSW: candidate list while building. 160 instead of 80 gained nothing measurable (recall@10
# 0.9992 vs 0.9993 at 200k) for ~2.7x the build time.
HNSW_EF_CONSTRUCTION = 80
# HNSW: candidate list while searching (FAISS uses at least k). Recall@10 vs exact at 200k:
# 0.990 at 32, 0.998 at 64, 0.9993 at 128, p50 ~0.1 / 0.2 / 0.4 ms: 128 leaves a margin for
# larger and harder indexes at a cost still far below the 20 ms budget.
HNSW_EF_SEARCH = 128
# FAISS (OpenMP) threads while a process answers questions: one query gains nothing from more,
# and on a busy machine waking the second thread stalled each search (Store.search_vectors at
# 1M chunks: p50 11.0 ms with the default of one per core, 0.63 ms with one). A build uses
# every core (``build_vector_index``) and then sets this back.
SEARCH_THREADS = 1
# IVF-PQ: inverted lists (clusters) = this * sqrt(n), rounded to a power of two.
IVF_LISTS_PER_SQRT_N = 4
# IVF-PQ: training vectors per list (FAISS wants 39 at least; more is slower, barely better).
IVF_TRAIN_PER_LIST = 64
# IVF-PQ: product quantiser sub-vectors (bytes of code per vector at 8 bits), bits per code.
PQ_M = 48
PQ_BITS = 8
# IVF-PQ: lists visited per query; more is slower and finds more of the true neighbours.
IVF_NPROBE = 64
# IVF-PQ: candidates re-ranked with 8-bit scalar-quantised vectors = this * k (PQ distances
# alone are too coarse: recall@10 0.75 without; the SQ8 copy costs 1 byte a dimension).
# At 200k (2,048 lists): nprobe 32 / k_factor 4 0.961, 32 / 8 0.974, 64 / 8 0.983, 64 / 16 0.987.
REFINE_K_FACTOR = 8
# IVF-PQ needs enough vectors to train 256 centroids per sub-vector and its lists.
IVF_MIN_VECTORS = 10_000
# --------------------------------------------------------------------------------------------

_TRAIN_SEED = 0
_FLAT_NAME = "IDMap2,FlatIP"  # what manifests before this module stored (a string)


def choose_kind(n_vectors: int, exact_max: int | None = None) -> str:
    """``flat`` up to ``exact_max`` (default ``EXACT_MAX_VECTORS``) vectors, else ``hnsw``.

    >>> choose_kind(10), choose_kind(10, exact_max=5)
    ('flat', 'hnsw')
    """
    limit = EXACT_MAX_VECTORS if exact_max is None else exact_max
    return "flat" if n_vectors <= limit else "hnsw"


def kind_of(description: dict[str, Any] | str | None) -> str:
    """The kind a manifest's ``faiss_index`` value names (old string manifests: ``flat``)."""
    if isinstance(description, dict):
        return str(description.get("kind", "flat"))
    return "flat"


def ivf_lists(n_vectors: int) -> int:
    """Number of IVF lists for ``n_vectors``: ``IVF_LISTS_PER_SQRT_N * sqrt(n)`` to a power
    of two, and few enough that each list gets ``IVF_TRAIN_PER_LIST`` training vectors.

    >>> ivf_lists(1_000_000), ivf_lists(200_000), ivf_lists(10_000)
    (4096, 2048, 128)
    """
    target = IVF_LISTS_PER_SQRT_N * np.sqrt(max(n_vectors, 1))
    lists = 1 << max(0, int(round(np.log2(target))))
    while lists > 1 and lists * IVF_TRAIN_PER_LIST > n_vectors:
        lists //= 2
    return lists


def build_vector_index(
    ids: np.ndarray,
    vectors: np.ndarray,
    dim: int,
    kind: str | None = None,
    exact_max: int | None = None,
) -> tuple[Any, dict[str, Any]]:
    """A FAISS inner-product index over ``vectors`` (L2-normalised, so scores are cosines)
    with ids ``ids``, and its description for the manifest.

    ``kind`` ``None`` chooses by size (``choose_kind``); ``"flat"``, ``"hnsw"`` or
    ``"ivfpq"`` force one. The index is always an ``IndexIDMap2``, so ids are chunk row ids."""
    import faiss

    ids = np.ascontiguousarray(ids, dtype=np.int64).reshape(-1)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, dim)
    if len(ids) != len(vectors):
        raise ValueError(f"{len(ids)} ids for {len(vectors)} vectors")
    n = len(ids)
    kind = kind or choose_kind(n, exact_max)
    desc: dict[str, Any]
    if kind == "flat":
        inner: Any = faiss.IndexFlatIP(dim)
        desc = {"kind": "flat", "faiss": _FLAT_NAME}
    elif kind == "hnsw":
        inner = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        desc = {"kind": "hnsw", "faiss": f"IDMap2,HNSW{HNSW_M},Flat", "M": HNSW_M,
                "ef_construction": HNSW_EF_CONSTRUCTION, "ef_search": HNSW_EF_SEARCH}
    elif kind == "ivfpq":
        if n < IVF_MIN_VECTORS:
            raise ValueError(f"ivfpq needs at least {IVF_MIN_VECTORS} vectors to train, got {n}"
                             "; use flat or hnsw")
        lists = ivf_lists(n)
        # "np": no polysemous training (10x slower to train, only used for Hamming filtering)
        spec = f"IVF{lists},PQ{PQ_M}x{PQ_BITS}np,Refine(SQ8)"
        inner = faiss.index_factory(dim, spec, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(_TRAIN_SEED)
        sample = np.sort(rng.choice(n, size=min(n, lists * IVF_TRAIN_PER_LIST), replace=False))
        inner.train(vectors[sample])
        desc = {"kind": "ivfpq", "faiss": "IDMap2," + spec, "nlist": lists, "pq_m": PQ_M,
                "pq_bits": PQ_BITS, "refine": "SQ8", "nprobe": IVF_NPROBE,
                "k_factor": REFINE_K_FACTOR}
    else:
        raise ValueError(f"vector index kind must be one of {', '.join(KINDS)}, got {kind!r}")
    index = faiss.IndexIDMap2(inner)
    if n:
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        try:
            index.add_with_ids(vectors, ids)
        finally:
            faiss.omp_set_num_threads(SEARCH_THREADS)
    desc["metric"] = "inner_product"
    configure_for_search(index, desc)
    return index, desc


def configure_for_search(index: Any, description: dict[str, Any] | str | None) -> None:
    """Apply the manifest's search parameters (HNSW ``efSearch``, IVF ``nprobe`` and the
    re-ranking factor) to ``index``; call after ``faiss.read_index``. An old manifest's string
    ``"IDMap2,FlatIP"`` (or none) is exact search: nothing to set. FAISS then searches with
    ``SEARCH_THREADS`` threads (process-wide)."""
    import faiss

    faiss.omp_set_num_threads(SEARCH_THREADS)
    if not isinstance(description, dict):
        if description not in (None, _FLAT_NAME):
            raise ValueError(f"unknown faiss_index {description!r} in the manifest")
        return
    kind = kind_of(description)
    inner: Any = faiss.downcast_index(index.index) if hasattr(index, "id_map") else index
    if kind == "hnsw":
        inner.hnsw.efSearch = int(description.get("ef_search", HNSW_EF_SEARCH))
    elif kind == "ivfpq":
        inner.k_factor = float(description.get("k_factor", REFINE_K_FACTOR))  # IndexRefine
        ivf: Any = faiss.downcast_index(inner.base_index)
        ivf.nprobe = int(description.get("nprobe", IVF_NPROBE))
    elif kind != "flat":
        raise ValueError(f"unknown vector index kind {kind!r} in the manifest; "
                         f"this version of rag reads {', '.join(KINDS)}")
