"""The labelled claim set (``evals/claims.jsonl``): the support checker against human labels.

Each claim about ``corpus/`` was written by reading the articles, blind to the model, and is
labelled ``supported`` (a paraphrase) or ``unsupported`` with its kind (number, name swap,
negation or antonym, roles reversed, invented detail, invented cause); see ``CLAIMS.md``.
A claim is judged supported when the checker supports it against *some* chunk of the corpus
(chunked exactly as the index chunks it), which is what ``QA.check`` does with retrieval
left out: no retrieval miss can hide a checker error.

Reported: balanced accuracy over all claims; per unsupported kind, the balanced accuracy of
that kind against all paraphrases (mean of paraphrase recall and the kind's rejection rate);
for paraphrases, their recall; and the plain accuracy of each kind.

``python -m evals.claims`` prints the figures and the misjudged claims.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CLAIMS = HERE / "claims.jsonl"
CORPUS = HERE.parent / "corpus"


@dataclass(frozen=True)
class Claim:
    id: str
    claim: str
    label: str
    kind: str
    doc_id: str
    quote: str
    note: str = ""

    @property
    def supported(self) -> bool:
        return self.label == "supported"


def load_claims(path: Path = CLAIMS) -> list[Claim]:
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            out.append(Claim(**{k: raw[k] for k in Claim.__dataclass_fields__ if k in raw}))
        except (json.JSONDecodeError, TypeError) as exc:
            raise ValueError(f"{path}:{n}: not a valid claim ({exc})") from None
        if out[-1].label not in ("supported", "unsupported"):
            raise ValueError(f"{path}:{n}: label must be supported or unsupported")
    return out


def corpus_chunks(corpus: Path = CORPUS) -> list[str]:
    """The corpus cut as the index cuts it (cleaned by ingest, 900 characters, overlap 1)."""
    from rag.chunk import chunk_document
    from rag.ingest import iter_corpus, load_document
    from rag.settings import Settings

    s = Settings()
    chunks = []
    for path in iter_corpus(corpus):
        doc = load_document(path, corpus)
        chunks += [c.text for c in chunk_document(doc, s.chunk_size, s.chunk_overlap)]
    return chunks


def evaluate_claims(checker: Any, path: Path = CLAIMS, corpus: Path = CORPUS) -> dict[str, Any]:
    """Figures of ``checker`` (anything with ``best(sentence, passages)``) on the claim set."""
    t0 = time.perf_counter()
    claims = load_claims(path)
    chunks = corpus_chunks(corpus)
    if hasattr(checker, "warm"):
        checker.warm([c.claim for c in claims], chunks)
    judged = []
    for c in claims:
        i, s = checker.best(c.claim, chunks)
        judged.append((c, s.supported, s.score, chunks[i] if i >= 0 else ""))
    pos = [ok for c, ok, _, _ in judged if c.supported]
    tpr = sum(pos) / max(1, len(pos))
    neg = [not ok for c, ok, _, _ in judged if not c.supported]
    tnr = sum(neg) / max(1, len(neg))
    kinds: dict[str, dict[str, Any]] = {}
    for kind in sorted({c.kind for c in claims}):
        rows = [(c, ok) for c, ok, _, _ in judged if c.kind == kind]
        correct = sum(ok == c.supported for c, ok in rows)
        acc = correct / len(rows)
        entry: dict[str, Any] = {"n": len(rows), "accuracy": round(acc, 4)}
        if all(c.supported for c, _ in rows):
            entry["balanced_accuracy"] = round(acc, 4)  # recall: the only rate defined
        else:
            entry["balanced_accuracy"] = round((tpr + acc) / 2, 4)
        kinds[kind] = entry
    wrong = [
        {"id": c.id, "kind": c.kind, "label": c.label, "claim": c.claim, "score": round(p, 3)}
        for c, ok, p, _ in judged
        if ok != c.supported
    ]
    return {
        "n_claims": len(claims),
        "balanced_accuracy": round((tpr + tnr) / 2, 4),
        "supported_recall": round(tpr, 4),
        "unsupported_rejected": round(tnr, 4),
        "min_kind_balanced_accuracy": min(k["balanced_accuracy"] for k in kinds.values()),
        "by_kind": kinds,
        "misjudged": wrong,
        "model": getattr(checker, "model_name", type(checker).__name__),
        "seconds": round(time.perf_counter() - t0, 2),
    }


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--claims", type=Path, default=CLAIMS)
    ap.add_argument("--lexical", action="store_true",
                    help="judge with the word-overlap scorer instead of the trained model")
    a = ap.parse_args()
    if a.lexical:
        from rag.lexical import LexicalScorer

        checker: Any = LexicalScorer()
    else:
        from rag.verify import SupportScorer

        checker = SupportScorer()
    out = evaluate_claims(checker, a.claims)
    json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
    print()
