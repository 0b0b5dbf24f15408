"""Hostile input: a corpus of every bad file we know of, and fuzzed questions against its index.

    .venv/bin/python -m bench.fuzz --questions 10000 [--seed 0] [--cli 300] [--model hash]

builds the hostile corpus (``hostile_corpus``) in a temporary folder, indexes it with the real
model (all-MiniLM-L6-v2 unless ``--model``), asks ``--questions`` fuzzed questions through
the Python API (``fuzz_questions``: random unicode with lone surrogates, control characters,
right-to-left text and emoji, FTS5 and SQL syntax, regular-expression metacharacters, huge
numbers, very long tokens, questions of 1999/2000/2001 characters, questions made of corpus
words; one in five with a fuzzed conversation history) and, with ``--cli N``, N of them
through ``rag chat --json``. It prints the counts: ``RagError`` for an empty or too long
question is expected, any other exception, a traceback on stderr or an answer whose citation
is not an exact quote of its document is a failure (exit status 1).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SEED_CORPUS = ROOT / "corpus"
MAX_QUESTION = 2000  # rag.chain refuses longer questions with a RagError


# -- the hostile corpus ------------------------------------------------------------------
def pdf_bytes(stream: bytes, *, flate: bool = False, info: bytes = b"") -> bytes:
    """A one-page PDF whose page content is ``stream`` (compressed when ``flate``)."""
    extra = b" /Filter /FlateDecode" if flate else b""
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d%s >>\nstream\n" % (len(stream), extra) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    trailer = b"/Size %d /Root 1 0 R" % (len(objs) + 1)
    if info:
        trailer += b" /Info << " + info + b" >>"
    out += b"trailer\n<< %s >>\nstartxref\n%d\n%%%%EOF\n" % (trailer, xref)
    return out


def text_pdf(text: str, info: bytes = b"") -> bytes:
    return pdf_bytes(b"BT /F1 12 Tf 72 720 Td (%s) Tj ET" % text.encode("latin-1"), info=info)


def pdf_bomb(megabytes: int = 80) -> bytes:
    """A ~80 KB PDF whose content stream inflates to ``megabytes`` MB of spaces: past pypdf's
    75 MB FlateDecode limit (``pypdf.errors.LimitReachedError``)."""
    z = zlib.compressobj(9)
    body = z.compress(b"BT /F1 12 Tf 72 720 Td (A decompression bomb.) Tj ET\n")
    block = b" " * (1 << 20)
    for _ in range(megabytes):
        body += z.compress(block)
    return pdf_bytes(body + z.flush(), flate=True)


def encrypted_pdf() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt("secret", algorithm="RC4-128")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def yaml_alias_bomb(levels: int = 8) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + f"\ntitle: *{chr(ord('a') + levels - 1)}\n"


ARTICLE = (
    "Berlin hosted a summit on Arctic shipping routes. Delegates from nine countries attended "
    "the meeting. The talks focused on icebreaker capacity and insurance costs.\n\n"
    "Norway's delegate said the northern route would cut the voyage to Shanghai by ten days."
)
UNICODE_NAME = "Moscow talks — résumé 🇷🇺 (final).md"
NON_UTF8_NAME = b"bad-\xff-name.txt"


@dataclass
class HostileCorpus:
    """What ``hostile_corpus`` wrote: files that must be indexed, files that must be skipped
    (as the skip line names them -> a word of the reason), the folder outside the corpus."""

    root: Path
    good: list[str] = field(default_factory=list)
    bad: dict[str, str] = field(default_factory=dict)
    outside: Path | None = None


def hostile_corpus(dst: Path, *, huge_line_chars: int = 1_000_000) -> HostileCorpus:
    """Write the hostile corpus into ``dst`` (created; ``dst.parent`` gets the file a link
    points to). Every bad file must be skipped with one line, every good one indexed."""
    dst.mkdir(parents=True)
    hc = HostileCorpus(root=dst)

    def good(name: str, data: bytes | str) -> None:
        path = dst / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        hc.good.append(name)

    def bad(name: str, data: bytes | str, why: str) -> None:
        (dst / name).write_bytes(data.encode() if isinstance(data, str) else data)
        hc.bad[name] = why

    for src in sorted(SEED_CORPUS.glob("*.md")):
        good(src.name, src.read_bytes())
    good("arctic.txt", ARTICLE)
    good(UNICODE_NAME, "---\ntitle: Talks in Moscow\n---\n" + ARTICLE.replace("Berlin", "Moscow"))
    good("x.md/inside.txt", ARTICLE.replace("Berlin", "Oslo"))  # a folder named like a file
    # Lone surrogates and code points that are not characters, wherever text comes from.
    good("surrogate-front-matter.md",
         '---\ntitle: "Lone \\uD800 surrogate"\nauthor: "A \\uDFFF B\\x01"\n---\n'
         "Helsinki hosted the talks on icebreakers. The delegates left early.\n")
    good("broken-utf8.txt", "Riga’s port – “the Baltic’s busiest” – reopened. ".encode() * 5
         + b"One stray byte \xff and an encoded surrogate \xed\xa0\x80 in UTF-8 text.\n")
    good("entities.html",
         "<html><head><title>Talks &#xD800; in Riga</title></head><body><article>"
         "<p>The ministers met in Riga &#xD800; on Monday to discuss the Baltic pipeline "
         "&#x1; and its cost &#xFFFE; to the three states, officials said afterwards.</p>"
         "<p>No agreement &#0; was reached &#x110000; on the route, the statement said.</p>"
         "</article></body></html>")
    good("late-nul.txt", ("Tallinn hosted the talks on energy. " * 300).encode()
         + b"The \x00 NUL byte \x01 is past \x1b[31m the first 8 KB.\n")
    good("odd-title.pdf", text_pdf("Vilnius hosted the summit \\000 on grain exports.",
                                   info=b"/Title 5 /Author (A\\000B)"))
    words = ("moscow assad syria base naval tartus kremlin talks missile strike air defense "
             "icebreaker route").split()
    rng = random.Random(7)
    line = " ".join(rng.choice(words) for _ in range(huge_line_chars // 7))
    good("huge-line.txt", line[:huge_line_chars])
    good("dup-a.md", ARTICLE.replace("Berlin", "Warsaw"))

    outside = dst.parent / "outside.txt"
    outside.write_text("A file outside the corpus folder.", encoding="utf-8")
    hc.outside = outside
    (dst / "link.txt").symlink_to(outside)
    hc.bad["link.txt"] = "outside the corpus"
    (dst / "broken-link.txt").symlink_to(dst / "does-not-exist.txt")
    hc.bad["broken-link.txt"] = "broken link"
    with open(os.path.join(os.fsencode(dst), NON_UTF8_NAME), "wb") as fh:
        fh.write(b"Text under a file name that is not UTF-8.")
    hc.bad[NON_UTF8_NAME.decode("utf-8", "replace")] = "not valid UTF-8"

    bad("bomb.pdf", pdf_bomb(), "decompress")
    bad("alias-bomb.md", "---\n" + yaml_alias_bomb() + "---\nBody.\n", "aliases")
    bad("big-front-matter.md",
        "---\n" + "\n".join(f"k{i}: v" for i in range(2000)) + "\n---\nBody.\n", "front matter")
    bad("list-front-matter.md", "---\n- a\n- b\n---\nBody text.\n", "key: value")
    bad("bad-date.md", "---\ntitle: Talks\ndate: 2017-13-45\n---\nBody text.\n", "month must be")
    bad("binary.txt", b"\x00\x01\x02\x03 binary \xff\xfe" * 50, "binary")
    bad("empty.txt", b"", "empty")
    bad("whitespace.md", " \n\t\n  \r\n", "no text")
    bad("debris-only.md", "fb-pixel Skip to main content\n\nAdvertisement\n", "no text")
    bad("not-utf8.txt", b"Caf\xe9 \x81\x8d\x8f\x90\x9d text", "UTF-8")
    bad("dup-b.md", ARTICLE.replace("Berlin", "Warsaw"), "same text as dup-a.md")
    bad("empty.pdf", b"", "empty")
    bad("truncated.pdf", text_pdf("Kyiv hosted the talks on grain.")[:150], "PDF")
    bad("garbage.pdf", b"%PDF-1.4 garbage \x00\xff" * 10, "PDF")
    bad("damaged.pdf", text_pdf("Minsk.").replace(b"/Length ", b"/Length /"), "TypeError")
    bad("encrypted.pdf", encrypted_pdf(), "encrypted")
    bad("text-with-pdf-name.pdf", "This is plain text saved with a .pdf name.", "PDF")
    bad("no-article.html", "<html><body><nav><a href='/'>Home</a> | <a href='/w'>World</a>"
        "</nav><script>var x = 1;</script></body></html>", "no article text")
    bad("deep.html", "<html><body>" + "<div>" * 5000 + "<p>" + ARTICLE + "</p>"
        + "</div>" * 5000 + "</body></html>", "no article text")
    bad("notes.docx", b"PK\x03\x04 not really a docx", "unsupported file type")
    if os.geteuid() != 0:  # root reads a chmod 000 file anyway
        bad("unreadable.txt", "You cannot read this.", "cannot read")
        (dst / "unreadable.txt").chmod(0)
    os.mkfifo(dst / "pipe.txt")  # reading it would block the build for ever
    hc.bad["pipe.txt"] = "not a regular file"
    (dst.parent / "elsewhere").mkdir(exist_ok=True)
    (dst / "linked-folder").symlink_to(dst.parent / "elsewhere")
    hc.bad["linked-folder"] = "a link to a folder"
    (dst / ".hidden.txt").write_text("Hidden files are ignored without a word.")
    (dst / "empty-folder.md").mkdir()
    return hc


# -- fuzzed questions --------------------------------------------------------------------
_SURROGATES = [chr(c) for c in (0xD800, 0xDBFF, 0xDC00, 0xDFFF, 0xD834)]
_CONTROLS = [chr(c) for c in (*range(0, 32), 0x7F, *range(0x80, 0xA0))]
_RTL = list("مرحبا بالعالم שלום עולם") + ["\u202e", "\u202b", "\u200f", "\u061c", "\u2067"]
_EMOJI = ["😀", "🇷🇺", "👩‍👩‍👧‍👦", "🏳️‍🌈", "\U0001f9d1\u200d\U0001f680", "✊🏿", "🔥", "\u20e3"]
_ODD = ["\u200b", "\u200d", "\ufeff", "\ufffe", "\uffff", "\ufdd0", "\U0010ffff", "\ue000",
        "\u0301", "\u0308" * 20, "\u3000", "\u00a0", "\u2028", "\u2029", "\u0085", "ǅ", "ß",
        "İ", "ﬃ", "𝔄𝔰𝔰𝔞𝔡", "Ａｓｓａｄ", "\U000e0001"]
_FTS = ['"', '""', "*", "NEAR(", "NEAR(a b, 5)", "OR", "AND", "NOT", "-", "^", ":", "(", ")",
        "text:", "chunks_fts:", "{text}", "+", "'", ";", "--", "/*", "*/", "DROP TABLE chunks;",
        "' OR 1=1 --", '"unterminated', "a*", "^start", "\\", "%", "_", "NEAR/3", "rowid",
        "MATCH", "bm25(", "\x00"]
_REGEX = [".*", "(a+)+$", "[", "]", "(?P<x>", "(?", "\\1", "\\", "{1,}", "|", "$", "^", "?",
          "+", "[[:alpha:]]", "\\d+", "(?i)", "\\N{SNOWMAN}", "\\u", "(?=x)", "a{99999}"]
_NUMBERS = ["9" * 400, "1e308", "-1e-400", "NaN", "inf", "-0", "0x" + "f" * 64,
            "1,000,000,000,000,000", "3.14159" * 30, "½", "٣٤٥", "Ⅻ", "10^100", "2017-04-07",
            "99999999999999999999999999999999999999%", "$1,000,000,000,000"]
_QUESTION_WORDS = ["Why", "How many", "Who", "When", "Where", "What", "How", "Which",
                   "Why won't", "Why did", "And how did", "What about", "Compare"]


def corpus_words(texts: Sequence[str]) -> list[str]:
    """Distinct words of ``texts``, for questions made of corpus words."""
    from rag.text import words

    return sorted({w for t in texts for w in words(t)})


def _random_unicode(rng: random.Random, n: int) -> str:
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.3:
            out.append(chr(rng.randrange(0x20, 0x7F)))
        elif r < 0.45:
            out.append(rng.choice(_SURROGATES + _CONTROLS))
        elif r < 0.6:
            out.append(rng.choice(_RTL + _EMOJI + _ODD))
        elif r < 0.8:
            out.append(chr(rng.randrange(0xA0, 0x3000)))
        else:
            c = rng.randrange(0x110000)
            out.append(chr(c))
    return "".join(out)


def _sized(rng: random.Random, vocab: Sequence[str], size: int) -> str:
    """Corpus words and spaces, exactly ``size`` characters, whitespace already normal."""
    parts: list[str] = []
    n = 0
    while n < size:
        w = rng.choice(vocab)
        parts.append(w)
        n += len(w) + 1
    return " ".join(parts)[:size].rstrip().ljust(size, "x")


def fuzz_question(rng: random.Random, vocab: Sequence[str]) -> str:
    """One fuzzed question (see the module docstring for the kinds)."""
    kind = rng.randrange(16)
    words = lambda k: " ".join(rng.choice(vocab) for _ in range(k))  # noqa: E731
    if kind == 0:
        return _random_unicode(rng, rng.randint(1, 80))
    if kind == 1:
        return f"{rng.choice(_QUESTION_WORDS)} {words(rng.randint(1, 8))}?"
    if kind == 2:
        return " ".join(rng.choice(_FTS + vocab[:50]) for _ in range(rng.randint(1, 12)))
    if kind == 3:
        return words(3) + " " + "".join(rng.choice(_REGEX) for _ in range(rng.randint(1, 10)))
    if kind == 4:
        return f"How many {rng.choice(_NUMBERS)} {words(2)}?"
    if kind == 5:
        return "".join(rng.choice("!?.,;:-–—…'\"()[]{}<>/\\|@#$%^&*~`+=_§¶•") for _ in
                       range(rng.randint(1, 60)))
    if kind == 6:
        return "".join(rng.choice(" \t\r\n\x0b\x0c\x1c\x1d\x1e\x1f\x85\u00a0\u1680\u2000\u2003"
                                  "\u2028\u2029\u202f\u205f\u3000")
                       for _ in range(rng.randint(0, 40)))
    if kind == 7:
        return " ".join([rng.choice(vocab)] * rng.randint(2, 400))
    if kind == 8:
        return _sized(rng, vocab, rng.choice((1999, 2000, 2001, 1998, 2002, 4000)))
    if kind == 9:
        return rng.choice(vocab) * rng.randint(50, 600)  # one very long token
    if kind == 10:
        return "".join(rng.choice(_SURROGATES) for _ in range(rng.randint(1, 900)))
    if kind == 11:
        return "".join(rng.choice(_RTL + _EMOJI) for _ in range(rng.randint(1, 60))) + " " + \
            words(3) + "?"
    if kind == 12:  # corpus words with hostile pieces between them
        pieces = [rng.choice(vocab) for _ in range(rng.randint(2, 10))]
        for _ in range(rng.randint(1, 4)):
            pool = rng.choice((_FTS, _REGEX, _SURROGATES, _CONTROLS, _EMOJI, _ODD, _NUMBERS))
            pieces.insert(rng.randrange(len(pieces) + 1), rng.choice(pool))
        return " ".join(pieces) + rng.choice(("?", "", "??", " ?"))
    if kind == 13:
        return rng.choice(_QUESTION_WORDS) + " " + _random_unicode(rng, rng.randint(1, 30)) + "?"
    if kind == 14:
        return "x" * rng.choice((1, 1999, 2000, 2001)) + rng.choice(("", " ", "\ud800"))
    return words(rng.randint(1, 30)) + rng.choice(("?", ".", "", "!"))


def fuzz_questions(n: int, seed: int, vocab: Sequence[str]) -> Iterator[str]:
    rng = random.Random(seed)
    for _ in range(n):
        yield fuzz_question(rng, vocab)


@dataclass
class FuzzReport:
    questions: int = 0
    answered: int = 0
    expected_errors: Counter[str] = field(default_factory=Counter)  # RagError message kinds
    failures: list[str] = field(default_factory=list)  # unexpected exceptions, bad quotes
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"questions": self.questions, "answered": self.answered,
                "expected_errors": dict(self.expected_errors),
                "unexpected": len(self.failures), "failures": self.failures[:20],
                "seconds": round(self.seconds, 1),
                "ms_per_question": round(1000 * self.seconds / max(self.questions, 1), 1)}


def _kind(message: str) -> str:
    return "empty" if "empty" in message else "too long" if "characters long" in message \
        else message[:60]


def fuzz_api(qa: Any, questions: Sequence[str], seed: int = 0,
             log: Callable[[str], None] | None = None) -> FuzzReport:
    """Ask every question (one in five with a fuzzed history); count outcomes."""
    from rag.errors import RagError

    rng = random.Random(seed)
    rep = FuzzReport()
    texts: dict[str, str] = {}
    t0 = time.perf_counter()
    for i, q in enumerate(questions):
        if log and i and i % 1000 == 0:
            log(f"{i} questions, {len(rep.failures)} failures, "
                f"{time.perf_counter() - t0:.0f} s")
        rep.questions += 1
        history = None
        if rng.random() < 0.2 and i:
            history = [(questions[rng.randrange(i)], questions[rng.randrange(i)][:300])
                       for _ in range(rng.randint(1, 3))]
        try:
            ans = qa.ask(q, history=history)
        except RagError as exc:
            rep.expected_errors[_kind(str(exc))] += 1
            continue
        except Exception as exc:  # noqa: BLE001 - the point is to catch every other one
            tb = traceback.format_exc(limit=-3)
            rep.failures.append(f"{q!r}: {type(exc).__name__}: {exc}\n{tb}")
            continue
        rep.answered += 1
        try:
            ans.text.encode("utf-8")
            for c in ans.citations:
                if c.doc_id not in texts:
                    texts[c.doc_id] = qa.document_text(c.doc_id)
                if texts[c.doc_id][c.start : c.end] != c.quote:
                    rep.failures.append(f"{q!r}: citation [{c.n}] is not an exact quote")
        except UnicodeEncodeError as exc:
            rep.failures.append(f"{q!r}: the answer cannot be encoded: {exc}")
    rep.seconds = time.perf_counter() - t0
    return rep


def chat_line(q: str) -> bytes | None:
    """``q`` as one line of ``rag chat`` input (surrogates become the invalid UTF-8 bytes a
    broken client would send), or None when it would end the chat or span lines."""
    line = " ".join(q.split())
    if not line or line.lower() in ("exit", "quit", "bye") or "\n" in q or "\r" in q:
        return None
    return q.encode("utf-8", "surrogatepass") + b"\n"


def fuzz_cli(index: Path, questions: Sequence[str], model: str,
             rag_bin: Path | None = None) -> dict[str, Any]:
    """Pipe questions into one ``rag chat --json``; count JSON answers and error lines."""
    lines = [b for q in questions if (b := chat_line(q)) is not None]
    rag_bin = rag_bin or Path(sys.executable).with_name("rag")
    t0 = time.perf_counter()
    out = subprocess.run(
        [str(rag_bin), "chat", "--json", "--index", str(index), "--model", model],
        input=b"".join(lines), capture_output=True, timeout=3600,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"},
    )
    stdout = out.stdout.decode("utf-8", "replace")
    stderr = out.stderr.decode("utf-8", "replace")
    answers = [json.loads(s) for s in stdout.splitlines() if s.startswith("{")]
    errors = [s for s in stderr.splitlines() if s.startswith("rag: error:")]
    others = [s for s in stderr.splitlines() if not s.startswith("rag: error:")]
    return {"lines": len(lines), "answers": len(answers), "error_lines": len(errors),
            "other_stderr": others[:20],
            "traceback": "Traceback" in stderr, "returncode": out.returncode,
            "seconds": round(time.perf_counter() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--questions", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cli", type=int, default=0, help="also pipe this many into rag chat --json")
    p.add_argument("--model", default="all-MiniLM-L6-v2", help="embedding model")
    p.add_argument("--keep", action="store_true", help="keep the corpus and index folder")
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import rag

    work = Path(tempfile.mkdtemp(prefix="rag-fuzz-"))
    try:
        hc = hostile_corpus(work / "corpus")
        t = time.perf_counter()
        stats = rag.build_index(hc.root, work / "index", embedding_model=args.model)
        build_s = time.perf_counter() - t
        print(f"hostile corpus: {stats.summary()}")
        qa = rag.load(work / "index", embedding_model=args.model)
        vocab = corpus_words([qa.document_text(d.doc_id) for d in qa.documents()])
        questions = list(fuzz_questions(args.questions, args.seed, vocab))
        qa.ask("Why won't Russia drop Assad?")  # load the models outside the timing
        rep = fuzz_api(qa, questions, seed=args.seed,
                       log=lambda m: print(m, file=sys.stderr, flush=True))
        result: dict[str, Any] = {"build_seconds": round(build_s, 1), "api": rep.to_dict()}
        if args.cli:
            result["cli"] = fuzz_cli(work / "index", questions[: args.cli], args.model)
        print(json.dumps(result, indent=2, ensure_ascii=False))
        cli_bad = bool(args.cli) and (result["cli"]["traceback"] or result["cli"]["returncode"])
        return 1 if rep.failures or cli_bad else 0
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            for path in work.rglob("*"):  # a chmod 000 file cannot stop the clean-up
                if not path.is_symlink():
                    path.chmod(0o755)
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
