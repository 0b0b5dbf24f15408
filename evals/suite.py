"""The eval suite: run every case of an eval set through ``rag`` and measure faithfulness.

All metrics are offline and deterministic (no hosted judge):

- retrieval: recall@k of the evidence quotes in the retrieved passages, and MRR of the first
  passage holding any evidence quote (answerable cases);
- key-point coverage: share of a case's key points that the answer states (any phrasing);
- citation support and precision *agreement*: share of answer sentences their cited passages
  support, and of citations that support their sentence on their own, judged by the live
  checker (``rag.verify.SupportScorer``) that already filtered the answer - so they measure
  the checker's agreement with itself (1.0 by construction for kept sentences), not
  faithfulness; uncited sentence rate;
- independent measures: ``citation_support_lexical``, the same share judged by the
  word-overlap scorer (``rag.lexical``, another method), and ``citation_evidence_precision``,
  the share of citations of answerable cases that quote a human-labelled evidence sentence
  (a lower bound: a relevant sentence the labels do not list counts as a miss);
- abstention: recall on unanswerable and false-premise cases, false-abstention rate on
  answerable ones;
- answer focus: ``unmatched_sentence_rate``, the share of answer sentences (answerable cases
  the service answered) that make none of the case's key points, and ``multi_doc_passed``, the
  number of multi-document cases that pass (every key point made, no abstention);
- the checker's balanced accuracy on the held-apart news pairs and on the labelled claim set
  (``evals.claims``; human labels, so independent of the checker).

Two eval sets share this code: ``cases.jsonl`` over the demo articles in ``corpus/`` and
``news_cases.jsonl`` over fifteen held-apart news articles in ``news/`` (see README.md);
``python -m evals`` runs both and prefixes the news set's metrics ``news_``.

It does not build prompts or judge fluency.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.text import normalize_quotes

HERE = Path(__file__).resolve().parent
CASES = HERE / "cases.jsonl"
NEWS_CASES = HERE / "news_cases.jsonl"
NEWS_CORPUS = HERE / "news"  # the articles (``news-*.md``) and their SOURCES.md
NEWS_ARTICLES = "news-*.md"
NEWS_PREFIX = "news_"
THRESHOLDS = HERE / "thresholds.json"
KINDS = ("fact", "why", "multi_doc", "paraphrase", "unanswerable", "false_premise")
_MARKERS = re.compile(r"((?:\s*\[\d+(?:\s*,\s*\d+)*\])+)")


@dataclass(frozen=True)
class Case:
    id: str
    question: str
    answerable: bool
    evidence: list[str]
    key_points: list[list[str]]
    reference_answer: str
    kind: str


@dataclass
class CaseResult:
    case: Case
    answer: str = ""
    abstained: bool = False
    citations: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, float | None] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    dropped: int = 0  # sentences verification removed from the draft


def norm(text: str) -> str:
    """Lower case, straight quotes, single spaces: how quotes and phrasings are matched."""
    return " ".join(normalize_quotes(text).lower().split())


def load_cases(path: Path = CASES) -> list[Case]:
    """Read and validate an eval set; errors name the line and the problem."""
    cases: list[Case] = []
    seen: set[str] = set()
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            case = Case(**{k: raw[k] for k in Case.__dataclass_fields__})
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{n}: not a valid case ({exc})") from None
        if case.kind not in KINDS:
            raise ValueError(f"{path}:{n}: kind must be one of {KINDS}, got {case.kind!r}")
        if case.id in seen:
            raise ValueError(f"{path}:{n}: duplicate id {case.id!r}")
        if case.answerable and not (case.evidence and case.key_points):
            raise ValueError(f"{path}:{n}: answerable case needs evidence and key_points")
        seen.add(case.id)
        cases.append(case)
    return cases


def answer_sentences(text: str) -> list[tuple[str, list[int]]]:
    """Split an answer into (sentence, cited numbers); text after the last marker is uncited.

    >>> answer_sentences("A b. [1] C d. [2][3] Trailing claim.")
    [('A b.', [1]), ('C d.', [2, 3]), ('Trailing claim.', [])]
    """
    out: list[tuple[str, list[int]]] = []
    pos = 0
    for m in _MARKERS.finditer(text):
        sentence = text[pos : m.start()].strip()
        nums = [int(x) for x in re.findall(r"\d+", m.group())]
        if sentence:
            out.append((sentence, nums))
        elif out:
            out[-1][1].extend(nums)
        pos = m.end()
    rest = text[pos:].strip()
    if rest:
        from rag.text import split_sentences

        out.extend((rest[s:e], []) for s, e in split_sentences(rest))
    return out


def makes_a_point(sentence: str, key_points: list[list[str]]) -> bool:
    """Whether ``sentence`` contains any phrasing of any key point (matched like coverage).

    >>> makes_a_point("They fired 59 missiles. [1]", [["59"], ["shayrat"]])
    True
    """
    text = norm(sentence)
    return any(norm(ph) in text for point in key_points for ph in point)


def case_passed(r: CaseResult) -> bool:
    """An answerable case passes when the answer makes every key point without abstaining;
    an unanswerable or false-premise case when the answer abstains."""
    if not r.case.answerable:
        return r.abstained
    return not r.abstained and r.metrics.get("key_point_coverage") == 1.0


def score_case(
    case: Case, answer: Any, scorer: Any, k: int, lexical: Any = None
) -> CaseResult:
    """Metrics of one answered case (``answer`` is a ``rag.Answer``); ``lexical`` is the
    independent word-overlap scorer (``rag.lexical.LexicalScorer``), if any."""
    res = CaseResult(case, answer.text, answer.abstained, answer.to_dict()["citations"],
                     dropped=len(answer.dropped))
    m: dict[str, float | None] = {}
    passages = [norm(p.text) for p in answer.passages[:k]]
    if case.evidence:
        ev = [norm(e) for e in case.evidence]
        found = [any(e in p for p in passages) for e in ev]
        m["retrieval_recall_at_k"] = sum(found) / len(ev)
        rank = next((i for i, p in enumerate(passages, 1) if any(e in p for e in ev)), None)
        m["mrr"] = 1.0 / rank if rank else 0.0
    if case.answerable:
        text = norm(answer.text) if not answer.abstained else ""
        hit = [any(norm(ph) in text for ph in point) for point in case.key_points]
        m["key_point_coverage"] = sum(hit) / len(hit)
        m["abstained_wrongly"] = float(answer.abstained)
        if answer.abstained:
            res.failures.append("abstained on an answerable question")
        missed = [point[0] for point, h in zip(case.key_points, hit, strict=True) if not h]
        if missed and not answer.abstained:
            res.failures.append(f"missed key points: {missed}")
    else:
        m["abstained_correctly"] = float(answer.abstained)
        if not answer.abstained:
            res.failures.append(f"answered a {case.kind.replace('_', ' ')} question")
    if not answer.abstained:
        by_n = {c.n: c for c in answer.citations}
        chunk = {p.chunk_id: p.text for p in answer.passages}
        sents = answer_sentences(answer.text)
        if case.answerable and sents:
            unmatched = sum(not makes_a_point(s, case.key_points) for s, _ in sents)
            m["answer_sentences"] = float(len(sents))
            m["unmatched_sentences"] = float(unmatched)
            m["unmatched_sentence_rate"] = unmatched / len(sents)
        supported = precise = n_cites = uncited = lex_ok = 0
        for sentence, nums in sents:
            cites = [by_n[n] for n in nums if n in by_n]
            if not cites:
                uncited += 1
                continue
            texts = [chunk.get(c.chunk_id, c.quote) for c in cites]
            ok = scorer.score(sentence, "\n".join(texts)).supported
            supported += ok
            if lexical is not None:
                lex_ok += lexical.score(sentence, "\n".join(texts)).supported
            for t in texts:
                n_cites += 1
                precise += scorer.score(sentence, t).supported
            if not ok:
                res.failures.append(f"unsupported sentence: {sentence[:80]!r}")
        if sents:
            m["citation_support_agreement"] = supported / len(sents)
            m["uncited_sentence_rate"] = uncited / len(sents)
            if lexical is not None:
                m["citation_support_lexical"] = lex_ok / len(sents)
        if n_cites:
            m["citation_precision_agreement"] = precise / n_cites
        if case.answerable and answer.citations:
            ev = [norm(e) for e in case.evidence]
            quotes = [norm(c.quote) for c in answer.citations]
            hits = [any(q in e or e in q for e in ev) for q in quotes]
            m["citation_evidence_precision"] = sum(hits) / len(hits)
    res.metrics = m
    return res


def aggregate(results: list[CaseResult]) -> dict[str, float]:
    def mean(key: str, rows: Iterable[CaseResult]) -> float | None:
        vals = [r.metrics[key] for r in rows if r.metrics.get(key) is not None]
        return round(sum(vals) / len(vals), 4) if vals else None  # type: ignore[arg-type]

    def pooled(part: str, whole: str, rows: Iterable[CaseResult]) -> float | None:
        """Sum of ``part`` over sum of ``whole``: a share of sentences, not a mean of cases."""
        rows = list(rows)
        total = sum(r.metrics.get(whole) or 0.0 for r in rows)
        return round(sum(r.metrics.get(part) or 0.0 for r in rows) / total, 4) if total else None

    answerable = [r for r in results if r.case.answerable]
    multi = [r for r in results if r.case.kind == "multi_doc"]
    out: dict[str, Any] = {
        "n_cases": len(results),
        "n_answerable": len(answerable),
        "retrieval_recall_at_k": mean("retrieval_recall_at_k", answerable),
        "mrr": mean("mrr", answerable),
        "citation_support_agreement": mean("citation_support_agreement", results),
        "citation_precision_agreement": mean("citation_precision_agreement", results),
        "citation_support_lexical": mean("citation_support_lexical", results),
        "citation_evidence_precision": mean("citation_evidence_precision", answerable),
        "uncited_sentence_rate": mean("uncited_sentence_rate", results),
        "key_point_coverage": mean("key_point_coverage", answerable),
        "abstention_recall": mean("abstained_correctly", results),
        "abstention_false_rate": mean("abstained_wrongly", answerable),
        "unmatched_sentence_rate": pooled("unmatched_sentences", "answer_sentences", answerable),
        "n_multi_doc": len(multi),
        "multi_doc_passed": sum(case_passed(r) for r in multi) if multi else None,
    }
    return out


def check_thresholds(metrics: dict[str, Any], thresholds: dict[str, Any]) -> list[str]:
    """Messages for every metric on the wrong side of its floor (``min`` / ``max``: the last
    recorded figures, so CI fails when a change makes things worse). The targets are
    reported with their distance, not enforced here."""
    bad = []
    for key, limit in thresholds.get("min", {}).items():
        if key.startswith("_"):
            continue
        value = metrics.get(key)
        if value is None or value < limit:
            bad.append(f"{key} = {value} is below the minimum {limit}")
    for key, limit in thresholds.get("max", {}).items():
        value = metrics.get(key)
        if value is None or value > limit:
            bad.append(f"{key} = {value} is above the maximum {limit}")
    return bad


def run_cases(
    qa: Any, cases: list[Case], scorer: Any, k: int, tick: Callable[[], None] | None = None,
    lexical: Any = None,
) -> list[CaseResult]:
    results = []
    for case in cases:
        t = time.perf_counter()
        answer = qa.ask(case.question)
        res = score_case(case, answer, scorer, k, lexical)
        res.seconds = round(time.perf_counter() - t, 3)
        results.append(res)
        if tick:
            tick()
    return results


AGREEMENT_NOTE = (
    "`*_agreement` metrics are judged by the live checker that already filtered the answers: "
    "they measure its agreement with itself, not faithfulness. Independent measures: "
    "`citation_support_lexical` (another method), `citation_evidence_precision` and the "
    "claim set (human labels)."
)


def target_rows(metrics: dict[str, Any], thresholds: dict[str, Any]) -> list[str]:
    """Markdown rows: metric, value, target, distance to the target (+ is better). Targets
    are ``thresholds["targets"]`` (the issues' goals); without them, the floors."""
    targets = thresholds.get("targets", thresholds)
    rows = []
    for side, sign in (("min", 1), ("max", -1)):
        for key, limit in targets.get(side, {}).items():
            if key.startswith("_"):
                continue
            value = metrics.get(key)
            if value is None:
                rows.append(f"| {key} | – | {'≥' if sign > 0 else '≤'} {limit} | not measured |")
                continue
            dist = round(sign * (value - limit), 4)
            state = "met" if dist >= 0 else "MISSED"
            rows.append(f"| {key} | {value} | {'≥' if sign > 0 else '≤'} {limit} | "
                        f"{dist:+} ({state}) |")
    return rows


SET_NAMES = ("demo corpus", "news set")
PASSED_NOTE = (
    "passed: every key point made without abstaining (answerable cases), or abstained "
    "(unanswerable and false-premise cases). failing: any failure listed below."
)


def _kind_rows(sets: list[list[CaseResult]]) -> list[str]:
    """Markdown rows by kind: cases, passed and failing of each set, side by side."""
    kinds = list(dict.fromkeys([*KINDS, *(r.case.kind for rows in sets for r in rows)]))
    out = []
    for kind in kinds:
        cells = []
        for rows in sets:
            mine = [r for r in rows if r.case.kind == kind]
            cells += [str(len(mine)), str(sum(case_passed(r) for r in mine)),
                      str(sum(bool(r.failures) for r in mine))]
        if any(c != "0" for c in cells[::3]):
            out.append(f"| {kind} | " + " | ".join(cells) + " |")
    return out


def _failing(title: str, results: list[CaseResult]) -> list[str]:
    failing = [r for r in results if r.failures]
    lines = ["", f"## {title} ({len(failing)})", ""]
    for r in failing:
        lines.append(f"- **{r.case.id}** ({r.case.kind}) {r.case.question}")
        for f in r.failures:
            lines.append(f"  - {f}")
        lines.append(f"  - answer: {r.answer[:300]}")
    return lines


def markdown(
    metrics: dict[str, Any], results: list[CaseResult], problems: list[str],
    thresholds: dict[str, Any] | None = None, claims: dict[str, Any] | None = None,
    news_results: list[CaseResult] | None = None,
) -> str:
    """The Markdown report. With ``news_results`` (the news set, its metrics in ``metrics``
    prefixed ``news_``) every table shows the demo corpus and the news set side by side."""
    sets = [results] if news_results is None else [results, news_results]
    if news_results is None:
        lines = ["# Eval report", "", "| metric | value |", "| --- | --- |"]
        lines += [f"| {k} | {v} |" for k, v in metrics.items() if not isinstance(v, dict)]
    else:
        lines = ["# Eval report", "", f"| metric | {SET_NAMES[0]} | {SET_NAMES[1]} |",
                 "| --- | --- | --- |"]
        for k, v in metrics.items():
            if isinstance(v, dict) or k.startswith(NEWS_PREFIX):
                continue
            other = metrics.get(NEWS_PREFIX + k, "–")
            lines.append(f"| {k} | {v} | {'–' if other is None else other} |")
    lines += ["", AGREEMENT_NOTE]
    if thresholds:
        lines += ["", "## Targets (the issues' goals)", "",
                  "| metric | value | target | distance |", "| --- | --- | --- | --- |",
                  *target_rows(metrics, thresholds)]
    if claims:
        lines += ["", f"## Claim set ({claims['n_claims']} labelled claims, checker "
                  f"{claims['model']})", "", "| kind | claims | balanced accuracy | accuracy |",
                  "| --- | --- | --- | --- |"]
        lines += [f"| {k} | {v['n']} | {v['balanced_accuracy']} | {v['accuracy']} |"
                  for k, v in claims["by_kind"].items()]
        lines.append(f"| all | {claims['n_claims']} | {claims['balanced_accuracy']} | |")
    if news_results is None:
        lines += ["", "| kind | cases | passed | failing |", "| --- | --- | --- | --- |"]
    else:
        head = " | ".join(f"{n}: {c}" for n in SET_NAMES for c in ("cases", "passed", "failing"))
        lines += ["", f"| kind | {head} |", "| --- " * 7 + "|"]
    lines += [*_kind_rows(sets), "", PASSED_NOTE]
    lines += ["", "## Floors (last recorded figures; CI fails below them)", ""]
    lines += [f"- FAIL: {p}" for p in problems] or ["- no metric is worse than its floor"]
    if news_results is None:
        lines += _failing("Failing cases", results)
    else:
        lines += _failing(f"Failing cases: {SET_NAMES[0]}", results)
        lines += _failing(f"Failing cases: {SET_NAMES[1]}", news_results)
    return "\n".join(lines) + "\n"


def without_prefix(thresholds: dict[str, Any], prefix: str) -> dict[str, Any]:
    """``thresholds`` without the metrics named ``prefix...`` (floors and targets), e.g. the
    news set's when it is not run."""

    def keep(block: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in block.items() if not k.startswith(prefix)}

    out = {k: keep(v) if k in ("min", "max") else v for k, v in thresholds.items()}
    if "targets" in thresholds:
        out["targets"] = {k: keep(v) if k in ("min", "max") else v
                          for k, v in thresholds["targets"].items()}
    return out


def stage_articles(src: Path, dst: Path, pattern: str = NEWS_ARTICLES) -> Path:
    """Mirror the files of ``src`` matching ``pattern`` into ``dst`` and return ``dst``.

    The news set's folder also holds its SOURCES.md, which must not be indexed as an article,
    so the index is built over this copy. Unchanged files are not rewritten (the indexer then
    finds every hash unchanged and reuses the index); files no longer in ``src`` are removed.
    """
    src, dst = Path(src), Path(dst)
    wanted = {p.name: p for p in sorted(src.glob(pattern)) if p.is_file()}
    if not wanted:
        raise ValueError(f"{src} holds no article matching {pattern}")
    dst.mkdir(parents=True, exist_ok=True)
    for old in dst.iterdir():
        if old.name not in wanted:
            if old.is_dir():
                shutil.rmtree(old)
            else:
                old.unlink()
    for name, path in wanted.items():
        target = dst / name
        data = path.read_bytes()
        if not target.exists() or target.read_bytes() != data:
            target.write_bytes(data)
    return dst
