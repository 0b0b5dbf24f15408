"""Exceptions the library raises on bad input. The CLI and UI turn them into one-line messages.

Each message says what was wrong and how to fix it.
"""


def causes(exc: BaseException, limit: int = 8) -> list[BaseException]:
    """``exc`` and what caused it (``__cause__``, else ``__context__``), outermost first, at
    most ``limit``: a library's real reason is often a few levels down.

    >>> try:
    ...     try:
    ...         raise KeyError("token")
    ...     except KeyError as inner:
    ...         raise ConnectionError("failed to connect") from inner
    ... except ConnectionError as outer:
    ...     [type(e).__name__ for e in causes(outer)]
    ['ConnectionError', 'KeyError']
    """
    chain: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in chain and len(chain) < limit:
        chain.append(e)
        e = e.__cause__ or e.__context__
    return chain


class RagError(Exception):
    """Base class: a problem the user can fix (bad input, missing index, wrong model...)."""


class CorpusError(RagError):
    """The corpus directory is missing, empty, or holds no readable document."""


class IngestError(RagError):
    """One file could not be read as a document (unreadable, binary, empty)."""


class IndexMissingError(RagError):
    """No index at the given path."""


class IndexMismatchError(RagError):
    """The index was built with other settings (model, dimension, format, chunker)."""


class MissingDependencyError(RagError):
    """An optional dependency is not installed."""


class GeneratorError(RagError):
    """A language-model generator could not be reached or failed."""


class SettingsError(RagError, ValueError):
    """A setting is out of range or malformed: a flag such as ``--top-k 0`` or a ``RAG_*``
    variable such as ``RAG_TOP_K=abc``. Also a ``ValueError``, as the argument checks were."""
