"""The answer writers on hand-written calibration questions: what tuning may look at.

``python -m rag.train report-composer`` answers the questions of
``rag/train/data/calibration_questions.jsonl`` with the default composer and with the ranked
one, over an index of their articles plus distractors, and prints the eval suite's metrics
for each (``evals.suite``: key points, abstention, answer sentences that make no point), and
how often the support checker finds the premise of a why-question supported: true premises
should be, false ones ("Why did Netanyahu welcome the deal?" of an article where he slams it)
should not.

Why this set exists. The models and rules are tuned on the calibration split of the shared
news data (``rag.train.news``), but the questions made there by template share most of their
words with the answer sentence: the default composer puts the answer first for 0.96 of them
(0.75 for questions made from summary sentences), against about 0.52 (demo) and 0.36 (news)
of the eval sets' hand-written questions. Fits on template questions do not carry over. These
253 questions are written the way the eval sets are (facts, why, paraphrase, several
articles, unanswerable, false premise; 50 answers in two or three parts), by reading 85
articles of the **calibration** split
(never the report split the second eval set comes from, never ``corpus/``); each names its
articles, the sentences that answer it (``evidence``) and its key points.

The articles are read from the shared data, staged as text files under ``--work-dir`` with
``DISTRACTORS`` further calibration articles (so retrieval has to choose, as with the eval
sets), and indexed once (incremental afterwards).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from .news import DEFAULT_DATA, read_articles, split_of

QUESTIONS = Path(__file__).resolve().parent / "data" / "calibration_questions.jsonl"
DISTRACTORS = 40  # further calibration-split articles in the index, in file order
SCAN_ARTICLES = 400  # calibration articles read to find the questions' articles
GENERATORS = ("extractive", "ranked")
METRICS = ("key_point_coverage", "abstention_recall", "abstention_false_rate",
           "unmatched_sentence_rate", "multi_doc_passed", "retrieval_recall_at_k")


def load_questions(path: Path = QUESTIONS) -> tuple[list[Any], dict[str, list[str]]]:
    """The cases (``evals.suite.Case``) and the article ids each one names."""
    from evals.suite import load_cases

    cases = load_cases(path)
    articles = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            raw = json.loads(line)
            articles[raw["id"]] = list(raw["articles"])
    bad = sorted({a for ids in articles.values() for a in ids if split_of(a) != "calibration"})
    if bad:
        raise ValueError(f"{path}: articles outside the calibration split: {', '.join(bad)}")
    return cases, articles


def stage(corpus: Path, needed: set[str], data: str | Path = DEFAULT_DATA) -> list[str]:
    """Write the needed articles and ``DISTRACTORS`` others as ``<id>.txt`` into ``corpus``
    (only files whose text changed are rewritten, other ``.txt`` files are removed); the ids
    staged."""
    corpus.mkdir(parents=True, exist_ok=True)
    found: dict[str, str] = {}
    others: list[tuple[str, str]] = []
    for a in read_articles(data, split="calibration", limit=SCAN_ARTICLES):
        if a.id in needed:
            found[a.id] = a.text
        elif len(others) < DISTRACTORS:
            others.append((a.id, a.text))
    missing = needed - set(found)
    if missing:
        raise ValueError(f"articles not among the first {SCAN_ARTICLES} of the calibration "
                         f"split: {', '.join(sorted(missing))}")
    staged = [*sorted(found.items()), *others]
    for aid, text in staged:
        f = corpus / f"{aid}.txt"
        if not f.exists() or f.read_text(encoding="utf-8") != text:
            f.write_text(text, encoding="utf-8")
    keep = {f"{aid}.txt" for aid, _ in staged}
    for f in corpus.glob("*.txt"):  # articles an earlier question set needed
        if f.name not in keep:
            f.unlink()
    return [aid for aid, _ in staged]


def premise_support(qa: Any, cases: list[Any]) -> dict[str, Any]:
    """Share of why-question premises the support checker finds supported by a retrieved
    passage, for answerable why-questions and for false-premise ones."""
    from ..question import premise

    out: dict[str, list[bool]] = {"true_premise": [], "false_premise": []}
    for c in cases:
        p = premise(c.question)
        if p is None or c.kind not in ("why", "false_premise"):
            continue
        passages = qa.retrieve(c.question)
        _, support = qa.scorer.best(p, [x.text for x in passages])
        out["false_premise" if c.kind == "false_premise" else "true_premise"].append(
            bool(support.supported))
    return {k: {"questions": len(v), "found_supported": round(sum(v) / len(v), 3) if v else None}
            for k, v in out.items()}


def staged_index(args: Any) -> tuple[list[Any], list[str], Path]:
    """The questions, the article ids staged for them (plus distractors) under
    ``args.work_dir``, and the index built (incrementally) over them."""
    import rag

    cases, articles = load_questions(Path(args.questions))
    work = Path(args.work_dir)
    staged = stage(work / "corpus", {a for ids in articles.values() for a in ids}, args.data)
    print(f"{len(cases)} questions over {len(staged)} calibration articles; indexing ...",
          file=sys.stderr)
    rag.build_index(work / "corpus", work / "index")
    return cases, staged, work / "index"


def run(args: Any) -> dict[str, Any]:
    import rag
    from evals.suite import aggregate, case_passed, run_cases

    from ..chain import QA
    from ..generate import generator_from_settings

    cases, staged, index = staged_index(args)
    report: dict[str, Any] = {"questions": len(cases), "articles": len(staged),
                              "by_kind": dict(Counter(c.kind for c in cases)), "generators": {}}
    first = rag.load(index)
    for gen in GENERATORS:  # one embedder and one checker for both, each loaded once
        settings = first.settings.with_(generator=gen)
        qa = QA(first.store, settings, embedder=first.embedder, scorer=first.scorer,
                generator=generator_from_settings(settings))
        results = run_cases(qa, cases, qa.scorer, qa.settings.top_k)
        m = aggregate(results)
        kinds: dict[str, list[bool]] = {}
        for r in results:
            kinds.setdefault(r.case.kind, []).append(case_passed(r))
        report["generators"][gen] = {
            **{k: (round(m[k], 4) if isinstance(m.get(k), float) else m.get(k))
               for k in METRICS},
            "passed_by_kind": {k: round(sum(v) / len(v), 3) for k, v in kinds.items()},
        }
        if gen == "extractive":
            report["premise_support"] = premise_support(qa, cases)
    print(_table(report))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report


def _table(report: dict[str, Any]) -> str:
    gens = report["generators"]
    lines = [f"{report['questions']} hand-written calibration questions, "
             f"{report['articles']} articles",
             "| metric | " + " | ".join(gens) + " |", "| --- |" + " --- |" * len(gens)]
    for k in METRICS:
        lines.append(f"| {k} | " + " | ".join(str(g[k]) for g in gens.values()) + " |")
    for kind in report["by_kind"]:
        lines.append(f"| passed: {kind} | " + " | ".join(
            str(g["passed_by_kind"].get(kind)) for g in gens.values()) + " |")
    ps = report.get("premise_support", {})
    for k, v in ps.items():
        lines.append(f"support checker finds the premise supported, {k.replace('_', ' ')}s: "
                     f"{v['found_supported']} of {v['questions']}")
    return "\n".join(lines)


def add_arguments(p: Any) -> None:
    p.add_argument("--data", default=str(DEFAULT_DATA), help="the shared news data")
    p.add_argument("--questions", default=str(QUESTIONS), help="the calibration questions")
    p.add_argument("--work-dir", default="build/train/composer-report",
                   help="where the articles are staged and indexed")
    p.add_argument("--out", default=None, help="also write the figures as JSON here")
