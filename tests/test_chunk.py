from __future__ import annotations

from pathlib import Path

from rag.chunk import chunk_document
from rag.ingest import iter_corpus, load_document
from rag.text import split_sentences
from rag.types import Document


def test_chunks_are_exact_spans_of_whole_sentences(corpus: Path) -> None:
    for path in iter_corpus(corpus):
        doc = load_document(path, corpus)
        sentences = set(split_sentences(doc.text))
        chunks = chunk_document(doc, chunk_size=600, overlap=1)
        assert len(chunks) > 2
        for c in chunks:
            assert doc.text[c.start : c.end] == c.text
            assert c.sentences[0][0] == c.start and c.sentences[-1][1] == c.end
            assert set(c.sentences) <= sentences
        # neighbours share exactly one sentence (the overlap)
        for a, b in zip(chunks, chunks[1:], strict=False):
            assert a.sentences[-1] == b.sentences[0]
        covered = {s for c in chunks for s in c.sentences}
        assert covered == sentences


def test_ids_are_stable_and_local_to_edits() -> None:
    text = " ".join(f"Sentence number {i} talks about topic {i}." for i in range(40))
    doc = Document("a.md", text, "A")
    first = chunk_document(doc, chunk_size=300)
    assert [c.chunk_id for c in first] == [c.chunk_id for c in chunk_document(doc, 300)]
    edited = Document("a.md", text.replace("topic 39.", "a changed topic."), "A")
    second = chunk_document(edited, chunk_size=300)
    same = {c.chunk_id for c in first} & {c.chunk_id for c in second}
    assert len(same) == len(first) - 1  # only the last chunk changed
    other_doc = chunk_document(Document("b.md", text, "B"), 300)
    assert not {c.chunk_id for c in other_doc} & {c.chunk_id for c in first}


def test_a_sentence_longer_than_the_limit_is_its_own_chunk() -> None:
    long = "Word " + "word " * 120 + "end."
    doc = Document("a.md", f"Short one. {long} Short two.", "A")
    chunks = chunk_document(doc, chunk_size=200, overlap=0)
    assert [c.text for c in chunks][1] == long.strip()
    assert len(chunks) == 3


def test_sentence_split_keeps_abbreviations_and_breaks_lines() -> None:
    text = "Headline without stop\nThe U.S. military said Mr. Mattis spoke. He agreed."
    spans = [text[s:e] for s, e in split_sentences(text)]
    assert spans == ["Headline without stop", "The U.S. military said Mr. Mattis spoke.",
                     "He agreed."]
