"""``rag.text._sentence_offsets`` maps BlingFire's byte offsets to characters itself (the
library's own mapping loops over every byte in Python). The spans must be the library's,
exactly: chunk boundaries, quotes and their offsets, and every model's input depend on them."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import blingfire
import pytest

from rag.text import _sentence_offsets, split_sentences
from rag.train.news import DEFAULT_DATA

ROOT = Path(__file__).resolve().parent.parent


def _library(text: str) -> list[tuple[int, int]]:
    return list(blingfire.text_to_sentences_and_offsets(text)[1])


def _paragraphs(text: str) -> list[str]:
    return [p for p in text.split("\n") if p.strip()]


@pytest.mark.skipif(not DEFAULT_DATA.exists(), reason="shared news data not present")
def test_same_spans_as_the_library_on_news_articles_and_summaries() -> None:
    paragraphs: list[str] = []
    with gzip.open(DEFAULT_DATA, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i == 1500:
                break
            row = json.loads(line)
            for value in row.values():
                if isinstance(value, str):
                    paragraphs += _paragraphs(value)
    non_ascii = [p for p in paragraphs if not p.isascii()]
    assert len(paragraphs) > 3000 and len(non_ascii) > 100  # both paths are exercised
    assert [_sentence_offsets(p) for p in paragraphs] == [
        _library(p) for p in paragraphs]


def test_same_spans_as_the_library_on_hostile_text() -> None:
    # zero-width and combining characters, emoji (with joiners), right-to-left and CJK
    # text, replacement characters, quotes and sentence ends in every position
    alphabet = ("ab Z1 .!?\"'“”…()-\t\u00e9\u20ac\U0001f600\u200b\u200d\u0301\u05d0\u0627"
                "\u4e2d\ufffd\u00a0")
    rng = random.Random(0)
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 120)))
             for _ in range(5000)]
    texts += ["\u200b", "\u200b\u200b", "\u200b ", " ", ".", "é.", "Ça va. Oui!", "😀. 😀."]
    assert [_sentence_offsets(t) for t in texts] == [_library(t) for t in texts]


def test_split_sentences_keeps_exact_quotes_in_non_ascii_text() -> None:
    text = "Le café coûte 3 €. « Il est bon », dit-il.\nDer Preis: 4,3 Milliarden Kronen. Ja."
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == [
        "Le café coûte 3 €.", "« Il est bon », dit-il.", "Der Preis: 4,3 Milliarden Kronen.", "Ja."]
    corpus = sorted((ROOT / "corpus").glob("*.md"))
    assert corpus
    for path in corpus:
        body = path.read_text(encoding="utf-8")
        for para in _paragraphs(body):
            assert _sentence_offsets(para) == _library(para)
