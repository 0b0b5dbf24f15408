"""Validate the second eval set, ``evals/news_cases.jsonl`` over ``evals/news/`` (no model).

The set is written against fifteen articles of the shared news data's ``report`` split, held
apart from every training and calibration run; see ``evals/README.md`` and
``evals/news/SOURCES.md``.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from functools import cache

import pytest

from evals.suite import KINDS, NEWS_ARTICLES, NEWS_CASES, NEWS_CORPUS, Case, load_cases, norm
from rag.ingest import load_document
from rag.train.news import DEFAULT_DATA, split_of

MIN_CASES = 60
MIN_ARTICLES = 15
# at least this many cases of each kind (the counts the set was written with)
MIN_PER_KIND = {"fact": 18, "why": 12, "multi_doc": 8, "paraphrase": 10, "unanswerable": 10,
                "false_premise": 8}
PREFIX = {"fact": "fact-", "why": "why-", "multi_doc": "multi-", "paraphrase": "para-",
          "unanswerable": "unans-", "false_premise": "premise-"}
FIELDS = ("id", "question", "answerable", "evidence", "key_points", "reference_answer", "kind")
_SOURCE_ID = re.compile(r"^source_id:\s*(\S+)\s*$", re.M)
_ROW_ID = re.compile(r'\{"id": "([^"]+)"')


@cache
def _cases() -> tuple[Case, ...]:
    return tuple(load_cases(NEWS_CASES))


@cache
def _articles() -> dict[str, str]:
    """File name -> cleaned text, as the service indexes it."""
    return {p.name: load_document(p, NEWS_CORPUS).text
            for p in sorted(NEWS_CORPUS.glob(NEWS_ARTICLES))}


def _source_ids() -> dict[str, str]:
    out = {}
    for p in sorted(NEWS_CORPUS.glob(NEWS_ARTICLES)):
        m = _SOURCE_ID.search(p.read_text(encoding="utf-8").split("\n---", 1)[0])
        assert m, f"{p.name}: front matter has no source_id"
        out[p.name] = m.group(1)
    return out


def _files_holding(quote: str) -> list[str]:
    return [name for name, text in _articles().items() if quote in text]


def test_every_line_has_exactly_the_documented_keys() -> None:
    lines = [ln for ln in NEWS_CASES.read_text(encoding="utf-8").splitlines() if ln.strip()]
    for n, line in enumerate(lines, 1):
        row = json.loads(line)
        assert tuple(row) == FIELDS, f"line {n}: keys {tuple(row)}"
        assert "\\u" not in line, f"line {n} is ASCII-escaped; write UTF-8"


def test_size_ids_and_kinds() -> None:
    cases = _cases()
    assert len(cases) >= MIN_CASES
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "ids must be unique"
    counts = Counter(c.kind for c in cases)
    assert set(counts) == set(KINDS)
    for kind, least in MIN_PER_KIND.items():
        assert counts[kind] >= least, f"{kind}: {counts[kind]} cases, want >= {least}"
    for c in cases:
        assert re.fullmatch(re.escape(PREFIX[c.kind]) + r"\d{2}", c.id), c.id
        assert c.answerable == (c.kind not in ("unanswerable", "false_premise")), c.id
        assert c.question.strip() and c.reference_answer.strip(), c.id


def test_enough_articles_all_from_the_report_split() -> None:
    ids = _source_ids()
    assert len(ids) >= MIN_ARTICLES
    assert len(set(ids.values())) == len(ids), "an article is copied twice"
    for name, source_id in ids.items():
        assert re.fullmatch(r"news-[a-z0-9-]+\.md", name), name
        split = split_of(source_id)
        assert split == "report", f"{name} ({source_id}) is a {split} article"


def test_sources_md_lists_every_article_with_its_id() -> None:
    sources = (NEWS_CORPUS / "SOURCES.md").read_text(encoding="utf-8")
    for name, source_id in _source_ids().items():
        row = next((ln for ln in sources.splitlines() if f"`{name}`" in ln), "")
        assert f"`{source_id}`" in row, f"SOURCES.md has no row for {name} with {source_id}"
    assert "Apache-2.0" in sources and "HaluEval" in sources


@pytest.mark.skipif(not DEFAULT_DATA.exists(), reason="shared news data not present")
def test_article_bodies_are_the_data_set_text() -> None:
    ids = _source_ids()
    wanted = set(ids.values())
    texts = {}
    with gzip.open(DEFAULT_DATA, "rt", encoding="utf-8") as f:
        for line in f:
            head = _ROW_ID.match(line)  # parse only the rows wanted
            if head is None or head.group(1) in wanted:
                row = json.loads(line)
                if row["id"] in wanted:
                    texts[row["id"]] = row["text"]
            if len(texts) == len(wanted):
                break
    for name, source_id in ids.items():
        body = (NEWS_CORPUS / name).read_text(encoding="utf-8").split("\n---\n", 1)[1]
        assert body.rstrip("\n") == texts[source_id].rstrip("\n"), f"{name} differs from the data"


def test_every_evidence_quote_is_in_a_cleaned_article() -> None:
    for c in _cases():
        for quote in c.evidence:
            assert _files_holding(quote), f"{c.id}: not in any cleaned article: {quote[:80]!r}"


def test_answerable_cases_have_evidence_and_findable_key_points() -> None:
    for c in _cases():
        if not c.answerable:
            assert c.key_points == [], c.id
            if c.kind == "unanswerable":
                assert c.evidence == [], c.id
            continue
        assert c.evidence and c.key_points, c.id
        evidence = " ".join(norm(e) for e in c.evidence)
        for point in c.key_points:
            assert point, f"{c.id}: empty key point"
            for phrasing in point:
                assert phrasing == phrasing.lower(), f"{c.id}: {phrasing!r} is not lowercase"
                assert 1 <= len(phrasing.split()) <= 4, f"{c.id}: {phrasing!r} is 1-4 words"
                assert norm(phrasing) in evidence, f"{c.id}: {phrasing!r} not in its evidence"


def test_multi_doc_cases_quote_more_than_one_article() -> None:
    for c in _cases():
        if c.kind == "multi_doc":
            files = {name for quote in c.evidence for name in _files_holding(quote)}
            assert len(files) >= 2, f"{c.id} quotes only {files}"

