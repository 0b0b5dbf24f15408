"""Ingest: read article files into cleaned ``Document`` records.

Reads ``.txt``, ``.md`` (optional YAML front matter), ``.html``/``.htm`` (main-text
extraction with trafilatura) and ``.pdf`` (pypdf). Cleans scrape debris ("fb-pixel Skip to
main content", a headline repeated twice, "Photo Source: ...", a masthead line equal to the
outlet) and keeps everything that is content, the author's bio included. The document id is
the path relative to the corpus directory, POSIX style.

It does not chunk, embed or store anything; a bad file raises ``IngestError`` and the caller
decides (the indexer skips it with a warning).

>>> clean_text("fb-pixel Skip to main content\\n\\nTitle\\n\\nTitle\\n\\nBody text.", title="Title")
'Title\\n\\nBody text.'
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import CorpusError, IngestError
from .types import Document

log = logging.getLogger(__name__)

SUPPORTED = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
CLEANER_VERSION = 1  # bump when cleaning changes: every document is then re-read

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


def iter_corpus(corpus_dir: Path) -> Iterator[Path]:
    """Supported files under ``corpus_dir``, sorted; hidden files and folders, links to files
    outside the folder and file names that are not UTF-8 are skipped with a warning."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.exists():
        raise CorpusError(
            f"corpus directory {corpus_dir} does not exist; create it and put .txt, .md, "
            ".html or .pdf articles in it"
        )
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus path {corpus_dir} is a file, not a directory")
    root = corpus_dir.resolve()
    for path in sorted(corpus_dir.rglob("*")):
        rel = path.relative_to(corpus_dir)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        shown = str(rel).encode("utf-8", "replace").decode("utf-8")
        try:
            str(rel).encode("utf-8")
        except UnicodeEncodeError:
            log.warning("skipping %s: the file name is not valid UTF-8; rename it", shown)
            continue
        if not path.resolve().is_relative_to(root):
            log.warning("skipping %s: a link to a file outside the corpus folder; copy the "
                        "file in instead", shown)
            continue
        if path.suffix.lower() in SUPPORTED:
            yield path
        else:
            log.warning("skipping %s: unsupported file type (use %s)", rel.as_posix(),
                        ", ".join(SUPPORTED))


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
        raise IngestError(f"{doc_id}: cannot read file ({exc.strerror})") from None
    suffix = path.suffix.lower()
    meta: dict[str, str] = {}
    if suffix == ".pdf":
        text, meta = _read_pdf(data, doc_id)
    elif suffix in (".html", ".htm"):
        text, meta = _read_html(_decode(data, doc_id), doc_id)
    elif suffix in (".txt", ".md", ".markdown"):
        text = _decode(data, doc_id)
        if suffix != ".txt" or text.startswith("---"):
            text, meta = _front_matter(text, doc_id)
    else:
        raise IngestError(f"{doc_id}: unsupported file type {suffix!r}; use {', '.join(SUPPORTED)}")
    title = meta.get("title") or None
    outlet = meta.get("outlet") or meta.get("source") or meta.get("site") or None
    text = clean_text(text, title=title, outlet=outlet)
    if not text.strip():
        raise IngestError(f"{doc_id}: no text left after cleaning; is the file empty?")
    return Document(
        doc_id=doc_id,
        text=text,
        title=title or _guess_title(text, path),
        author=meta.get("author") or None,
        outlet=outlet,
        date=meta.get("date") or None,
        source_hash=file_hash(data),
    )


def _decode(data: bytes, doc_id: str) -> str:
    if b"\x00" in data[:8192]:
        raise IngestError(f"{doc_id}: looks like a binary file (NUL bytes); save it as text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            raise IngestError(
                f"{doc_id}: not UTF-8 text (bad byte at offset {exc.start}); re-save it as UTF-8"
            ) from None
        log.warning("%s: not UTF-8, read as Windows-1252; re-save it as UTF-8", doc_id)
        return text


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
    except yaml.YAMLError as exc:
        raise IngestError(
            f"{doc_id}: front matter is not valid YAML ({exc}); fix or remove it"
        ) from None
    if not isinstance(meta, dict):
        raise IngestError(f"{doc_id}: front matter must be key: value lines")
    out = {str(k).lower(): str(v).strip() for k, v in meta.items() if v}
    for key, value in out.items():
        if len(value) > MAX_META_FIELD:
            raise IngestError(f"{doc_id}: front matter field {key!r} is {len(value)} characters "
                              f"long; keep it under {MAX_META_FIELD}")
    return text[m.end() :], out


def _read_html(html: str, doc_id: str) -> tuple[str, dict[str, str]]:
    import trafilatura

    found: Any = trafilatura.bare_extraction(
        html, with_metadata=True, include_comments=False, include_tables=True, favor_recall=True
    )
    doc: dict[str, Any] = found.as_dict() if hasattr(found, "as_dict") else dict(found or {})
    body = str(doc.get("text") or "")
    if not body.strip():
        raise IngestError(f"{doc_id}: no article text found in the HTML")
    meta = {"title": doc.get("title"), "author": doc.get("author"),
            "outlet": doc.get("sitename"), "date": doc.get("date")}
    text = "\n\n".join(line for line in body.split("\n") if line.strip())
    return text, {k: str(v) for k, v in meta.items() if v}


def _read_pdf(data: bytes, doc_id: str) -> tuple[str, dict[str, str]]:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise IngestError(f"{doc_id}: the PDF is encrypted; save an unencrypted copy")
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise IngestError(f"{doc_id}: not a readable PDF ({exc})") from None
    # Re-flow hard-wrapped lines inside paragraphs; keep blank-line paragraph breaks.
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    text = re.sub(r"(?<![.!?:\n])\n(?!\n)", " ", text)
    meta = {}
    if info is not None:
        meta = {"title": info.title or "", "author": info.author or ""}
    return text, {k: v for k, v in meta.items() if v}


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
    return path.stem.replace("-", " ").replace("_", " ").strip().capitalize() or path.name
