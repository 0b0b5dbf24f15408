"""Shared fixtures: a temporary copy of the demo corpus and indexes built from it.

Fast tests use the deterministic ``hash`` embedder (real FAISS, real SQLite); tests marked
``model`` use the real all-MiniLM-L6-v2 shipped offline.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
SHARED_DATA = ROOT.parent / "shared" / "data"
DEMO = "Why won't Russia drop Assad?"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    dst = tmp_path / "corpus"
    shutil.copytree(CORPUS, dst)
    return dst


@pytest.fixture(scope="session")
def hash_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import rag

    index = tmp_path_factory.mktemp("hash") / "index"
    rag.build_index(CORPUS, index, embedding_model="hash")
    return index


@pytest.fixture(scope="session")
def model_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import rag

    index = tmp_path_factory.mktemp("minilm") / "index"
    rag.build_index(CORPUS, index)
    return index


@pytest.fixture(scope="session")
def model_qa(model_index: Path):  # noqa: ANN201
    import rag

    return rag.load(model_index)


def assert_quoted(cases: list, articles: dict[str, list[str]]) -> None:
    """Every case's evidence is quoted from its articles (matched as the eval suite matches:
    case, quotes and spacing aside), and every key point is in its evidence. Reads the shared
    news data once."""
    import gzip
    import json

    from evals.suite import norm
    from rag.train.news import DEFAULT_DATA

    wanted = {a for ids in articles.values() for a in ids}
    texts = {}
    with gzip.open(DEFAULT_DATA, "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row["id"] in wanted:
                texts[row["id"]] = norm(row["text"])
    assert set(texts) == wanted
    for c in cases:
        body = " ".join(texts[a] for a in articles[c.id])
        for e in c.evidence:
            assert norm(e) in body, (c.id, e)
        ev = norm(" ".join(c.evidence))
        for point in c.key_points:
            assert any(norm(p) in ev for p in point), (c.id, point)
