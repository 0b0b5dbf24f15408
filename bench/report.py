"""Render a results JSON written by ``bench.run`` as Markdown tables.

    .venv/bin/python -m bench.report bench/out/results-1k.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.run import table


def experiments(res: dict[str, Any]) -> str:
    lines: list[str] = []
    e = res.get("embed_experiments")
    if e:
        lines += [f"Embedding throughput on one sample of {e['sample']} chunks (chunks/s, "
                  "higher is better, measured side by side in one process):", "",
                  "| variant | chunks/s |", "|---|---|"]
        for r in e["torch_batch_threads_chunks_per_s"]:
            lines.append(f"| torch raw encode, threads={r['threads']}, batch={r['batch_size']} | "
                         f"{r['raw']:.1f} |")
        lines += [
            f"| torch raw encode, batch 32 (again) | {e['raw_bs32_chunks_per_s']:.1f} |",
            f"| torch rag pipeline embed (length-sorted batches), batch 32 | "
            f"{e['pipeline_bs32_chunks_per_s']:.1f} |",
            f"| torch rag pipeline (as is), measured last | "
            f"{e['torch_again_pipeline_bs32_chunks_per_s']:.1f} |",
        ]
        for kind in ("fp32", "int8"):
            o = e[f"onnx_{kind}"]
            lines.append(
                f"| ONNX {kind} pipeline | {o['pipeline_chunks_per_s']:.1f} (cos vs torch "
                f"{o['mean_cosine_vs_torch']:.4f}, {o['file_mb']:.0f} MB) |")
        lines.append("")
    for key in ("onnx_index_fp32", "onnx_index_int8"):
        o = res.get(key)
        if not o:
            continue
        q, a = o["quality"], o["ask"]["latency_ms"]
        lines += [
            f"ONNX {o['kind']} full index: {o['embedded']} chunks "
            f"in {o['seconds']:.0f} s = {o['chunks_per_s']:.1f} chunks/s; query embed p50 "
            f"{o['query_embed_ms_p50']:.1f} ms.", "",
            "| mode | R@1 | R@5 | R@10 | MRR |", "|---|---|---|---|---|",
        ]
        for mode, m in q.items():
            lines.append(f"| {mode} ({o['kind']}) | {m['recall@1']:.3f} | {m['recall@5']:.3f} | "
                         f"{m['recall@10']:.3f} | {m['mrr@10']:.3f} |")
        lines += ["", f"ask with the {o['kind']} embedder ({o['ask']['questions']} questions): "
                  f"total p50 {a['total']['p50']:.0f} ms / p95 {a['total']['p95']:.0f} ms, "
                  f"retrieve p50 {a['retrieve']['p50']:.0f} ms, compose p50 "
                  f"{a['compose']['p50']:.0f} ms (sentence embedding p50 "
                  f"{a['compose_embedding']['p50']:.0f} ms).", ""]
    f = res.get("query", {}).get("faiss")
    if f:
        lines += [f"FAISS on the index's {f['n_vectors']} vectors, 200 queries, top-10: flat "
                  f"{f['flat_ms_per_query']:.3f} ms/query ({f['flat_bytes'] / 2**20:.1f} MB).", "",
                  "| HNSW M | efSearch | recall@10 vs exact | ms/query | build s | MB |",
                  "|---|---|---|---|---|---|"]
        for h in f["hnsw"]:
            lines.append(f"| {h['M']} | {h['efSearch']} | {h['recall@10_vs_exact']:.3f} | "
                         f"{h['ms_per_query']:.3f} | {h['build_s']:.1f} | "
                         f"{h['bytes'] / 2**20:.1f} |")
    return "\n".join(lines)


def main() -> int:
    res = json.loads(Path(sys.argv[1]).read_text())
    print(table(res))
    print()
    print(experiments(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
