"""rag: answers from a collection of articles, with a checked citation on every sentence.

>>> import rag                                   # doctest: +SKIP
>>> rag.build_index("corpus", "index")           # doctest: +SKIP
>>> rag.load("index").ask("Why won't Russia drop Assad?").text   # doctest: +SKIP

Importing ``rag`` is cheap: the heavy parts (torch, FAISS, the model) load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .types import Answer, Citation, Document, Passage

__all__ = [
    "QA", "Answer", "BuildStats", "Citation", "Document", "Passage", "Settings", "build_index",
    "load",
]
__version__ = "0.1.0"

if TYPE_CHECKING:
    from .chain import QA, load
    from .index import BuildStats, build_index
    from .settings import Settings


def __getattr__(name: str) -> Any:
    if name == "build_index":
        from .index import build_index

        return build_index
    if name in ("load", "QA"):
        from . import chain

        return getattr(chain, name)
    if name == "Settings":
        from .settings import Settings

        return Settings
    if name == "BuildStats":
        from .index import BuildStats

        return BuildStats
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
