"""Ingest: read article files into cleaned ``Document`` records.

Reads ``.txt``, ``.md`` (optional YAML front matter), ``.html``/``.htm`` (main-text
extraction with trafilatura) and ``.pdf`` (pypdf). Cleans scrape debris ("fb-pixel Skip to
main content", a headline repeated twice, "Photo Source: ...", a masthead line equal to the
outlet) and keeps everything that is content, the author's bio included. The document id is
the path relative to the corpus directory, POSIX style.

Text from any source is made valid Unicode first (``rag.text.clean_code_points``: no lone
surrogate, noncharacter or control character reaches the tokenizer or SQLite), and a
"sentence" longer than ``MAX_SENTENCE`` characters (a huge line with no full stop) is broken
at spaces, so that no chunk or quote is megabytes long.

It does not chunk, embed or store anything; a bad file raises ``IngestError`` saying what is
wrong and how to fix it, in one line, and the caller decides (the indexer skips the file).

>>> clean_text("fb-pixel Skip to main content\\n\\nTitle\\n\\nTitle\\n\\nBody text.", title="Title")
'Title\\n\\nBody text.'
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import CorpusError, IngestError
from .text import clean_code_points, split_sentences
from .types import Document

log = logging.getLogger(__name__)

SUPPORTED = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
CLEANER_VERSION = 2  # bump when cleaning changes: every document is then re-read

# Whole lines that are scrape debris, never content.
_DEBRIS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^(fb-pixel\s*)?skip to (main )?content$",
        r"^fb-pixel$",
        r"^(photo|image|picture|video) (source|credit)s?\s*:.*$",
        r"^(advertisement|sponsored content|story continues below)$",
        r"^(share|share this( article| story)?|tweet|email|print)$",
        r"^(sign up|subscribe) (for|to) (our|the) newsletter.*$",
        r"^we use cookies.*$",
        r"^accept( all)? cookies$",
        r"^read more:?$",
    )
]


def scan_corpus(corpus_dir: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """Supported files under ``corpus_dir`` in sorted order, and ``(name, reason)`` for every
    file passed over: a file name that is not UTF-8, a link to a file outside the folder, a
    broken link, a link to a folder, something that is not a regular file, an unsupported
    type. Hidden files and folders are passed over without a word."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.exists():
        raise CorpusError(
            f"corpus directory {corpus_dir} does not exist; create it and put .txt, .md, "
            ".html or .pdf articles in it"
        )
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus path {corpus_dir} is a file, not a directory")
    root = corpus_dir.resolve()
    files: list[Path] = []
    skipped: list[tuple[str, str]] = []
    for path in sorted(corpus_dir.rglob("*")):
        rel = path.relative_to(corpus_dir)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.is_dir():
            if path.is_symlink():
                skipped.append((rel.as_posix(), "a link to a folder, which is not followed; "
                                                "copy the folder in instead"))
            continue
        shown = os.fsencode(rel).decode("utf-8", "replace")
        try:
            str(rel).encode("utf-8")
        except UnicodeEncodeError:
            skipped.append((shown, "the file name is not valid UTF-8; rename it"))
            continue
        if path.is_symlink() and not path.exists():
            skipped.append((shown, "a broken link (what it points to does not exist); remove "
                                   "it or copy the file in"))
            continue
        if not path.resolve().is_relative_to(root):
            skipped.append((shown, "a link to a file outside the corpus folder; copy the file "
                                   "in instead"))
            continue
        if path.suffix.lower() not in SUPPORTED:
            skipped.append((shown, f"unsupported file type (use {', '.join(SUPPORTED)})"))
        elif not path.is_file():
            skipped.append((shown, "not a regular file (a pipe, socket or device); remove it"))
        else:
            files.append(path)
    return files, skipped


def iter_corpus(corpus_dir: Path) -> Iterator[Path]:
    """``scan_corpus``'s files; each file passed over is logged as a warning."""
    files, skipped = scan_corpus(corpus_dir)
    for name, reason in skipped:
        log.warning("skipping %s: %s", name, reason)
    yield from files


def doc_id_for(path: Path, corpus_dir: Path) -> str:
    return Path(path).resolve().relative_to(Path(corpus_dir).resolve()).as_posix()


def file_hash(data: bytes) -> str:
    """Hash of a file's bytes and the cleaner version: a change to either re-reads the file."""
    return hashlib.sha256(f"cleaner-{CLEANER_VERSION}\0".encode() + data).hexdigest()


def load_document(path: Path, corpus_dir: Path, data: bytes | None = None) -> Document:
    """Read and clean one file. Raises ``IngestError`` saying what is wrong with it."""
    path = Path(path)
    doc_id = doc_id_for(path, corpus_dir)
    try:
        data = path.read_bytes() if data is None else data
    except OSError as exc:
        raise IngestError(f"{doc_id}: {unreadable_reason(exc)}") from None
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise IngestError(f"{doc_id}: unsupported file type {suffix!r}; use {', '.join(SUPPORTED)}")
    if not data:
        raise IngestError(f"{doc_id}: the file is empty (0 bytes); put the article in it or "
                          "delete it")
    meta: dict[str, str] = {}
    if suffix == ".pdf":
        text, meta = _read_pdf(data, doc_id)
    elif suffix in (".html", ".htm"):
        text, meta = _read_html(_decode(data, doc_id), doc_id)
    else:
        text = _decode(data, doc_id)
        if suffix != ".txt" or text.startswith("---"):
            text, meta = _front_matter(text, doc_id)
    meta = {k: " ".join(clean_code_points(v).split()) for k, v in meta.items()}
    title = meta.get("title") or None
    outlet = meta.get("outlet") or meta.get("source") or meta.get("site") or None
    text = break_long_sentences(clean_text(clean_code_points(text), title=title, outlet=outlet))
    if not text.strip():
        raise IngestError(f"{doc_id}: no text left after cleaning (only blank lines or page "
                          "furniture such as 'Skip to main content'); put the article in it")
    return Document(
        doc_id=doc_id,
        text=text,
        title=title or _guess_title(text, path),
        author=meta.get("author") or None,
        outlet=outlet,
        date=meta.get("date") or None,
        source_hash=file_hash(data),
    )


def unreadable_reason(exc: OSError) -> str:
    """Why a file could not be read, and what to do (shared with the indexer)."""
    return f"cannot read the file ({exc.strerror or exc}); check its permissions (chmod a+r)"


def _decode(data: bytes, doc_id: str) -> str:
    """UTF-8 (a few broken bytes become U+FFFD), else Windows-1252, else ``IngestError``;
    cleaned with ``clean_code_points``."""
    if b"\x00" in data[:8192]:
        raise IngestError(f"{doc_id}: looks like a binary file (NUL bytes); save it as text")
    try:
        return clean_code_points(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    text = data.decode("utf-8", "surrogateescape").removeprefix("\ufeff")
    if any(c > "\x7f" and not "\udc80" <= c <= "\udcff" for c in text):
        # Real UTF-8 (it has valid multi-byte characters) with a few broken bytes: read as
        # Windows-1252, every one of its curly quotes and accents would turn into mojibake.
        n_bad = sum("\udc80" <= c <= "\udcff" for c in text)
        log.warning("%s: %d bytes that are not UTF-8 replaced with U+FFFD; re-save it as UTF-8",
                    doc_id, n_bad)
        return clean_code_points(text)
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        raise IngestError(
            f"{doc_id}: not UTF-8 text (bad byte at offset {first_bad}); re-save it as UTF-8"
        ) from None
    log.warning("%s: not UTF-8, read as Windows-1252; re-save it as UTF-8", doc_id)
    return clean_code_points(text)


MAX_SENTENCE = 2_000  # characters: a longer "sentence" (no full stop) is broken at spaces


def break_long_sentences(text: str, limit: int = MAX_SENTENCE) -> str:
    """Break every sentence longer than ``limit`` characters into lines of at most ``limit``,
    at a space where there is one: a megabyte-long line with no full stop would otherwise be
    one chunk, quoted whole in an answer.

    >>> break_long_sentences("aaa bbb ccc ddd. Ok.", limit=8)
    'aaa bbb\\nccc ddd. Ok.'
    """
    if all(len(line) <= limit for line in text.split("\n")):
        return text
    out: list[str] = []
    done = 0
    for start, end in split_sentences(text):
        pos = start
        while end - pos > limit:
            cut = text.rfind(" ", pos + limit // 2, pos + limit + 1)
            if cut < 0:  # one enormous word: cut it
                out.append(text[done : pos + limit] + "\n")
                done = pos = pos + limit
            else:
                out.append(text[done:cut] + "\n")
                done = pos = cut + 1
    out.append(text[done:])
    return "".join(out)


MAX_FRONT_MATTER = 8_000  # characters of YAML front matter read at most
MAX_META_FIELD = 1_000  # characters of one front-matter value (title, author, ...)


def _yaml_loader() -> Any:
    """``yaml.SafeLoader`` without aliases: ``*name`` lets a few hundred bytes expand into
    millions of characters (an alias bomb), and front matter never needs one."""
    import yaml

    class NoAliases(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                raise yaml.composer.ComposerError(
                    None, None, "aliases (*name) are not allowed", self.peek_event().start_mark)
            return super().compose_node(parent, index)

    return NoAliases


def _yaml_problem(exc: Exception) -> str:
    """A YAML error in one line: the problem and where (a line of the file: the front matter
    starts on line 2)."""
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if problem and mark is not None:
        return f"{problem} at line {mark.line + 2}"
    return " ".join(str(exc).split())


def _front_matter(text: str, doc_id: str) -> tuple[str, dict[str, str]]:
    m = re.match(r"---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(\r?\n|$)", text, re.DOTALL)
    if not m:
        return text, {}
    if len(m.group(1)) > MAX_FRONT_MATTER:
        raise IngestError(f"{doc_id}: front matter is {len(m.group(1))} characters long; keep "
                          f"it under {MAX_FRONT_MATTER} (title, author, outlet, date)")
    import yaml

    try:
        meta = yaml.load(m.group(1), Loader=_yaml_loader()) or {}  # noqa: S506 - safe loader
        if not isinstance(meta, dict):
            raise IngestError(f"{doc_id}: front matter must be key: value lines (title: ..., "
                              f"author: ...), not a {type(meta).__name__}")
        out = {str(k).lower(): str(v).strip() for k, v in meta.items() if v}
    except yaml.YAMLError as exc:
        raise IngestError(
            f"{doc_id}: front matter is not valid YAML ({_yaml_problem(exc)}); fix or remove it"
        ) from None
    except IngestError:
        raise
    except Exception as exc:  # noqa: BLE001 - see below
        # Values the safe loader cannot build or print raise what its constructors raise:
        # ValueError ("date: 2017-13-45": month must be in 1..12; a 5,000-digit number),
        # KeyError ("!!bool x"), IndexError ("!!int ''"), AttributeError ("!!timestamp x"),
        # RecursionError (brackets nested thousands deep).
        raise IngestError(
            f"{doc_id}: front matter holds a value YAML cannot read ({type(exc).__name__}: "
            f'{_one_line(exc)}); quote it ("...") or fix it'
        ) from None
    for key, value in out.items():
        if len(value) > MAX_META_FIELD:
            raise IngestError(f"{doc_id}: front matter field {key!r} is {len(value)} characters "
                              f"long; keep it under {MAX_META_FIELD}")
    return text[m.end() :], out


# A numeric character reference: lxml refuses the whole page for one that names a control
# character or a noncharacter (&#x1; or &#xFFFE;), and trafilatura then finds no text.
_CHAR_REF = re.compile(r"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));?")


def _fix_char_ref(m: re.Match[str]) -> str:
    code = int(m.group(1), 16) if m.group(1) else int(m.group(2))
    if code in (0x9, 0xA, 0xD) or 0x7F <= code <= 0x9F:  # C1: browsers read them as cp1252
        return m.group()
    if code > 0x10FFFF:
        return "\ufffd"
    fixed = clean_code_points(chr(code))  # "" for a control character, U+FFFD for a surrogate
    return m.group() if fixed == chr(code) else fixed  # &#60; stays a reference, never a "<"


MIN_HTML_WORDS = 10  # fewer words extracted from a page are its menus, not an article


def _quiet(library: str) -> None:
    """Silence a parser's own warnings about a damaged file ("discarding data: None", "incorrect
    startxref pointer"), unless the application configured its logger: we read the text or
    skip the file, with one line saying why."""
    logger = logging.getLogger(library)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.ERROR)


def _read_html(html: str, doc_id: str) -> tuple[str, dict[str, str]]:
    import trafilatura

    _quiet("trafilatura")
    html = clean_code_points(_CHAR_REF.sub(_fix_char_ref, html))
    found: Any = trafilatura.bare_extraction(
        html, with_metadata=True, include_comments=False, include_tables=True, favor_recall=True
    )
    doc: dict[str, Any] = found.as_dict() if hasattr(found, "as_dict") else dict(found or {})
    body = str(doc.get("text") or "")
    if len(body.split()) < MIN_HTML_WORDS:
        raise IngestError(f"{doc_id}: no article text found in the HTML (a page of links or "
                          "scripts, or nested too deeply); save the article page itself, or "
                          "its text as .txt")
    meta = {"title": doc.get("title"), "author": doc.get("author"),
            "outlet": doc.get("sitename"), "date": doc.get("date")}
    text = "\n\n".join(line for line in body.split("\n") if line.strip())
    return text, {k: str(v) for k, v in meta.items() if v}


def _read_pdf(data: bytes, doc_id: str) -> tuple[str, dict[str, str]]:
    import io
    import warnings

    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError, PyPdfError

    _quiet("pypdf")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                raise IngestError(f"{doc_id}: the PDF is encrypted; save an unencrypted copy")
            pages = [page.extract_text() or "" for page in reader.pages]
            info = reader.metadata
            meta = {} if info is None else {"title": info.title, "author": info.author}
    except LimitReachedError:
        raise IngestError(
            f"{doc_id}: the PDF holds a stream that decompresses past pypdf's safety limit "
            "(a decompression bomb, or a damaged file); re-export or print it to a new PDF"
        ) from None
    except PyPdfError as exc:
        raise IngestError(f"{doc_id}: not a readable PDF ({_one_line(exc)}); re-export or "
                          "print it to a new PDF") from None
    except IngestError:
        raise
    except Exception as exc:  # noqa: BLE001 - see below
        # On damaged files pypdf also raises TypeError, AttributeError, AssertionError,
        # ValueError, NotImplementedError, RecursionError... (found by mutating PDFs): a file
        # it cannot parse is a bad file, never the end of the build.
        raise IngestError(f"{doc_id}: not a readable PDF (pypdf failed: {type(exc).__name__}: "
                          f"{_one_line(exc)}); re-export or print it to a new PDF") from None
    # Re-flow hard-wrapped lines inside paragraphs; keep blank-line paragraph breaks.
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    text = re.sub(r"(?<![.!?:\n])\n(?!\n)", " ", text)
    # /Title can be a number or a name in a damaged file: only text counts.
    return text, {k: v for k, v in meta.items() if isinstance(v, str) and v.strip()}


def _one_line(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean_text(text: str, title: str | None = None, outlet: str | None = None) -> str:
    """Drop debris lines, repeated headlines and masthead lines; normalise whitespace."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    out: list[str] = []
    seen_title = False
    for raw in text.split("\n"):
        line = re.sub(r"[ \t]+", " ", raw).strip()
        if not line:
            if out and out[-1] != "":
                out.append("")
            continue
        if any(p.match(line) for p in _DEBRIS):
            continue
        if outlet and not out and line.casefold() == outlet.casefold():
            continue  # masthead: the outlet's name above the headline
        prev = next((x for x in reversed(out) if x), None)
        if prev is not None and line == prev and len(line) < 300:
            continue  # the same line twice in a row (a repeated headline)
        if title and line.casefold() == title.casefold():
            if seen_title:
                continue
            seen_title = True
        out.append(line)
    while out and out[-1] == "":
        out.pop()
    while out and out[0] == "":
        out.pop(0)
    return "\n".join(out)


def _guess_title(text: str, path: Path) -> str:
    first = next((ln.strip() for ln in text.split("\n") if ln.strip()), "")
    if first and len(first) <= 200 and not first.endswith((".", "?", "!")):
        return first
    name = clean_code_points(path.stem.replace("-", " ").replace("_", " "))
    return " ".join(name.split()).capitalize() or clean_code_points(path.name)
