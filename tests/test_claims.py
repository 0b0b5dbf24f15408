"""Validate the hand-labelled claim set ``evals/claims.jsonl`` (no model needed).

The set measures the support checker; see ``evals/CLAIMS.md``.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLAIMS = ROOT / "evals" / "claims.jsonl"
CORPUS = ROOT / "corpus"

FIELDS = ("id", "claim", "label", "kind", "doc_id", "quote", "note")
UNSUPPORTED_KINDS = (
    "number",
    "name_swap",
    "negation",
    "role_reversal",
    "invented_detail",
    "invented_cause",
)
KINDS = ("paraphrase", *UNSUPPORTED_KINDS)
MIN_CLAIMS = 150
MIN_PER_KIND = 14


def _load() -> list[dict]:
    rows = []
    with CLAIMS.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                row = json.loads(line)
                assert isinstance(row, dict), f"line {n} is not a JSON object"
                rows.append(row)
    return rows


@pytest.fixture(scope="module")
def claims() -> list[dict]:
    return _load()


@pytest.fixture(scope="module")
def corpus_texts() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in CORPUS.glob("*.md")}


def test_fields_and_types(claims: list[dict]) -> None:
    for row in claims:
        assert set(row) == set(FIELDS), row.get("id")
        for field in FIELDS:
            assert isinstance(row[field], str), (row["id"], field)
        for field in ("id", "claim", "label", "kind", "doc_id", "note"):
            assert row[field].strip(), (row["id"], field)


def test_ids_unique(claims: list[dict]) -> None:
    ids = [row["id"] for row in claims]
    dupes = [i for i, c in Counter(ids).items() if c > 1]
    assert not dupes, dupes


def test_label_kind_consistent(claims: list[dict]) -> None:
    for row in claims:
        assert row["kind"] in KINDS, row["id"]
        assert row["label"] in ("supported", "unsupported"), row["id"]
        assert (row["kind"] == "paraphrase") == (row["label"] == "supported"), row["id"]


def test_doc_ids_exist(claims: list[dict], corpus_texts: dict[str, str]) -> None:
    for row in claims:
        assert row["doc_id"] in corpus_texts, (row["id"], row["doc_id"])


def test_quotes_are_exact_substrings(claims: list[dict], corpus_texts: dict[str, str]) -> None:
    bad = [
        row["id"]
        for row in claims
        if row["quote"] and row["quote"] not in corpus_texts.get(row["doc_id"], "")
    ]
    assert not bad, f"quotes not found verbatim in their doc: {bad}"


def test_supported_claims_have_quotes(claims: list[dict]) -> None:
    for row in claims:
        if row["label"] == "supported":
            assert row["quote"].strip(), row["id"]


def test_paraphrases_are_not_copies(claims: list[dict]) -> None:
    for row in claims:
        if row["label"] == "supported":
            claim, quote = row["claim"].strip(), row["quote"].strip()
            assert claim != quote, row["id"]
            assert claim not in quote, row["id"]


def test_size_and_balance(claims: list[dict]) -> None:
    assert len(claims) >= MIN_CLAIMS
    counts = Counter(row["kind"] for row in claims)
    for kind in KINDS:
        assert counts[kind] >= MIN_PER_KIND, (kind, counts[kind])


def test_both_articles_covered(claims: list[dict], corpus_texts: dict[str, str]) -> None:
    assert {row["doc_id"] for row in claims} == set(corpus_texts)
