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
