"""Chunk: cut a document into sentence-aligned, overlapping chunks with exact offsets.

Sentences (``rag.text.split_sentences``) are packed greedily until the next one would pass
``chunk_size`` characters; the next chunk starts ``overlap`` sentences before the end of the
previous one, so an idea that straddles a boundary is whole in one chunk. A sentence longer
than ``chunk_size`` is a chunk of its own. Every chunk is ``doc.text[start:end]`` exactly.

Chunk ids are derived from content (document id, chunk text, and which repeat of that text
it is), so rebuilding the same corpus gives the same ids and editing one paragraph changes
only the ids of the chunks that contain it.

It does not embed or store anything.

>>> from rag.types import Document
>>> doc = Document("a.md", "One sentence here. Two sentence here. Three sentence here.", "A")
>>> [c.text for c in chunk_document(doc, chunk_size=40, overlap=1)]
['One sentence here. Two sentence here.', 'Two sentence here. Three sentence here.']
"""

from __future__ import annotations

import hashlib

from .text import split_sentences
from .types import Chunk, Document

SPLITTER = "blingfire-packed-v1"  # recorded in the index manifest


def chunker_settings(chunk_size: int, overlap: int) -> dict[str, object]:
    return {"splitter": SPLITTER, "chunk_size": chunk_size, "overlap": overlap}


def chunk_document(doc: Document, chunk_size: int = 900, overlap: int = 1) -> list[Chunk]:
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be > 0, got {chunk_size}")
    if overlap < 0:
        raise ValueError(f"overlap must be >= 0, got {overlap}")
    sents = split_sentences(doc.text)
    groups: list[list[tuple[int, int]]] = []
    i = 0
    while i < len(sents):
        j = i + 1
        while j < len(sents) and sents[j][1] - sents[i][0] <= chunk_size:
            j += 1
        groups.append(sents[i:j])
        if j >= len(sents):
            break
        i = max(j - overlap, i + 1)
    chunks: list[Chunk] = []
    repeats: dict[str, int] = {}
    for pos, group in enumerate(groups):
        start, end = group[0][0], group[-1][1]
        text = doc.text[start:end]
        k = repeats.get(text, 0)
        repeats[text] = k + 1
        digest = hashlib.sha256(f"{doc.doc_id}\0{k}\0{text}".encode()).hexdigest()[:20]
        chunks.append(
            Chunk(
                chunk_id=digest,
                doc_id=doc.doc_id,
                start=start,
                end=end,
                text=text,
                sentences=tuple(group),
                position=pos,
            )
        )
    return chunks
