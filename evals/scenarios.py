"""Eval scenarios for language-model answers, with scripted chat models (no real model).

Each scenario is a deterministic LangChain chat model that reads the numbered passages in
its prompt and writes a draft the way a class of real models misbehaves:

- ``faithful``: two passage sentences, correctly cited;
- ``wrong_citation``: the same sentences with their citation numbers swapped or shifted;
- ``invented``: a faithful sentence plus an invented, cited claim;
- ``ignores_passages``: an answer from "outside knowledge", cited anyway.

The draft goes through the same verification as a real model's (``rag.draft``), and the
eval suite scores the verified answers: citation support should stay high whatever the
model does, while wrong citations get re-pointed and invented claims dropped.

``python -m evals.scenarios --out artifacts/scenarios.json`` prints a table of metrics.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

ROOT = Path(__file__).resolve().parent.parent
_PASSAGE = re.compile(r"^\[(\d+)\] [^\n]*\n(.*?)(?=\n\n\[\d+\] |\n\nQuestion:|\Z)", re.S | re.M)


def _passages(prompt: str) -> list[tuple[int, str]]:
    return [(int(m.group(1)), m.group(2).strip()) for m in _PASSAGE.finditer(prompt)]


def _first_sentence(text: str) -> str:
    from rag.text import split_sentences

    spans = [text[s:e] for s, e in split_sentences(text) if len(text[s:e].split()) >= 6]
    return spans[0] if spans else text.split("\n")[0]


def faithful(ps: list[tuple[int, str]]) -> str:
    return " ".join(f"{_first_sentence(t).rstrip('.')} [{n}]." for n, t in ps[:2])


def wrong_citation(ps: list[tuple[int, str]]) -> str:
    picked = ps[:2]
    if len(picked) < 2:
        return faithful(ps)
    (n1, t1), (n2, t2) = picked
    return f"{_first_sentence(t1).rstrip('.')} [{n2}]. {_first_sentence(t2).rstrip('.')} [{n1}]."


def invented(ps: list[tuple[int, str]]) -> str:
    n, t = ps[0]
    return (f"{_first_sentence(t).rstrip('.')} [{n}]. Officials said 4,000 Russian troops "
            f"were secretly withdrawn from Latakia in March [{n}].")


def ignores_passages(ps: list[tuple[int, str]]) -> str:
    return ("Russia backs Assad mainly to protect Gazprom pipeline contracts worth $50 billion "
            "[1]. The Kremlin signed a 99-year lease on the Aleppo airport in 2015 [2].")


SCENARIOS: dict[str, Callable[[list[tuple[int, str]]], str]] = {
    "faithful": faithful,
    "wrong_citation": wrong_citation,
    "invented": invented,
    "ignores_passages": ignores_passages,
}


class ScriptedChatModel(BaseChatModel):
    """Writes ``script(passages)`` for the passages numbered in the last message."""

    script: Any

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        prompt = str(messages[-1].content)
        ps = _passages(prompt)
        text = self.script(ps) if ps else "NOT IN SOURCES"
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


def run(names: list[str], index: Path, corpus: Path) -> dict[str, dict[str, Any]]:
    import rag
    from evals.suite import aggregate, load_cases, run_cases
    from rag.chain import QA
    from rag.generate import make_generator
    from rag.verify import SupportScorer

    rag.build_index(corpus, index)
    base = rag.load(index)
    scorer = SupportScorer()
    out: dict[str, dict[str, Any]] = {}
    cases = load_cases()
    for name in names:
        gen = make_generator("openai", chat_model=ScriptedChatModel(script=SCENARIOS[name]))
        qa = QA(base.store, base.settings, embedder=base.embedder, generator=gen)
        results = run_cases(qa, cases, scorer, base.settings.top_k)
        metrics = aggregate(results)
        drafts = [r for r in results if not r.abstained]
        metrics["dropped_sentences_first_20"] = sum(r.dropped for r in results[:20])
        metrics["answered"] = len(drafts)
        out[name] = metrics
        print(f"{name}: " + ", ".join(f"{k}={v}" for k, v in metrics.items()), file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m evals.scenarios", description=__doc__)
    p.add_argument("--out", type=Path, default=Path("scenarios.json"))
    p.add_argument("--scenario", action="append", choices=list(SCENARIOS))
    p.add_argument("--index", type=Path, default=ROOT / "index" / "evals")
    p.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    args = p.parse_args(argv)
    results = run(args.scenario or list(SCENARIOS), args.index, args.corpus)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    keys = ["citation_support_agreement", "citation_precision_agreement", "uncited_sentence_rate",
            "key_point_coverage", "abstention_recall", "abstention_false_rate",
            "dropped_sentences_first_20"]
    print("| scenario | " + " | ".join(keys) + " |")
    print("| --- " * (len(keys) + 1) + "|")
    for name, m in results.items():
        print(f"| {name} | " + " | ".join(str(m.get(k)) for k in keys) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
