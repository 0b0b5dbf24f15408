"""What an edit costs when the new generation is always compacted, and with the rule.

    .venv/bin/python -m bench.edit_cost --tier 10k [--rounds 2]

On the news tier's cached index (``bench.run --tier N`` builds it in ``bench/out/cache/``):
``bench.run``'s incremental phase (a scratch copy of the index, a no-change rebuild, then 1 %
of the articles edited and built) run alternately with ``VACUUM_FREE_SHARE`` = 0 (every build
VACUUMs, as before the rule) and with the default (``rag.store.VACUUM_FREE_SHARE``), side by
side in one process. Prints the seconds of each round and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Any

from bench.run import OUT

TIERS = {"1k": 1000, "10k": 10000}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tier", choices=TIERS, default="10k")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--model", default="all-MiniLM-L6-v2")
    a = ap.parse_args(argv)
    import rag.store
    from bench.run import phase_incremental

    default = rag.store.VACUUM_FREE_SHARE
    cache = OUT / "cache" / f"{TIERS[a.tier]}-{a.model}"
    p = {"corpus": str(cache / "corpus"), "index": str(cache / "index"), "model": a.model,
         "scratch": str(cache / "scratch-edit-cost"), "percent": 1.0}
    runs: dict[str, list[dict[str, Any]]] = {"always": [], "rule": []}
    for n in range(a.rounds):
        for name, share in (("always", 0.0), ("rule", default)):
            rag.store.VACUUM_FREE_SHARE = share
            runs[name].append(phase_incremental(p))
            print(f"round {n + 1} {name}: 1 % edited in {runs[name][-1]['edit_seconds']:.2f} s",
                  flush=True)
    rag.store.VACUUM_FREE_SHARE = default
    med = {k: statistics.median(r["edit_seconds"] for r in v) for k, v in runs.items()}
    print(f"\n| {a.tier}, 1 % of articles edited | VACUUM every build | VACUUM when >= "
          f"{default:.0%} of pages are free | ratio |\n|---|---|---|---|\n"
          f"| seconds (median of {a.rounds}) | {med['always']:.2f} | {med['rule']:.2f} | "
          f"{med['rule'] / med['always']:.2f} |")
    out = OUT / f"edit-cost-{a.tier}.json"
    out.write_text(json.dumps({"tier": a.tier, "vacuum_free_share": default, "runs": runs,
                               "median_seconds": med}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
