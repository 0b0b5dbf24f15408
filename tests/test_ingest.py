from __future__ import annotations

from pathlib import Path

import pytest

from bench.fuzz import text_pdf, yaml_alias_bomb
from rag.errors import CorpusError, IngestError
from rag.ingest import clean_text, iter_corpus, load_document


def test_seed_articles_are_cleaned_but_keep_content(corpus: Path) -> None:
    ap = load_document(corpus / "russia-assad-ap.md", corpus)
    assert ap.doc_id == "russia-assad-ap.md"
    assert ap.title == "Analysis: Russia’s Assad stance dims hopes for US thaw"
    assert ap.outlet == "Associated Press" and ap.author is None
    assert "fb-pixel" not in ap.text and "Skip to main content" not in ap.text
    assert ap.text.startswith("Analysis: Russia’s Assad stance")
    assert "hosts Russian air force and naval assets." in ap.text
    assert ap.text.endswith("maintaining military and diplomatic communications.")

    fpb = load_document(corpus / "russia-syria-stance-fpb.md", corpus)
    assert fpb.author == "Ania Viver" and fpb.outlet == "Foreign Policy Blogs"
    assert "Photo Source" not in fpb.text
    assert fpb.text.count("Unlikely Change in Russia’s Stance on Syria") == 1  # title was twice
    assert not fpb.text.startswith("Foreign Policy Blogs")  # masthead dropped
    assert "trilingual assistant to the regional coordinator" in fpb.text  # bio kept


def test_clean_text_keeps_repeated_content_that_is_not_adjacent() -> None:
    text = "A point.\n\nOther text.\n\nA point."
    assert clean_text(text) == text


def test_doc_ids_are_posix_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    f = tmp_path / "sub" / "deeper" / "note.txt"
    f.write_text("Some text about Syria.")
    assert load_document(f, tmp_path).doc_id == "sub/deeper/note.txt"


def test_html_main_text_is_extracted(tmp_path: Path) -> None:
    html = (
        "<html><head><title>Kremlin talks</title><meta name='author' content='Jane Roe'></head>"
        "<body><nav>Home | World | Sport | Subscribe</nav><article><h1>Kremlin talks</h1>"
        "<p>The Kremlin held talks with the Syrian opposition in Moscow this week, officials "
        "said on Friday, describing the meeting as constructive.</p><p>Both sides repeated "
        "their positions and no agreement was reached, according to the statement.</p>"
        "</article><footer>Copyright 2017 Example News. All rights reserved.</footer></body></html>"
    )
    (tmp_path / "a.html").write_text(html)
    doc = load_document(tmp_path / "a.html", tmp_path)
    assert doc.title == "Kremlin talks"
    assert doc.author == "Jane Roe"
    assert "no agreement was reached" in doc.text
    assert "Subscribe" not in doc.text and "Copyright" not in doc.text


def _minimal_pdf(text: str) -> bytes:
    return text_pdf(text)


def test_pdf_text_is_extracted(tmp_path: Path) -> None:
    pdf = _minimal_pdf("Moscow pledged to help Syria beef up air defenses.")
    (tmp_path / "r.pdf").write_bytes(pdf)
    doc = load_document(tmp_path / "r.pdf", tmp_path)
    assert "beef up air defenses" in doc.text


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("bin.txt", b"\x00\x01\x02binary", "binary"),
        ("empty.md", b"   \n\n", "no text"),
        ("bad.pdf", b"%PDF-1.4 garbage", "PDF"),
        ("fm.md", b"---\ntitle: [unclosed\n---\nBody.", "front matter"),
    ],
)
def test_bad_files_raise_clear_errors(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    (tmp_path / name).write_bytes(data)
    with pytest.raises(IngestError, match=message) as err:
        load_document(tmp_path / name, tmp_path)
    assert name in str(err.value)


def test_windows_1252_text_is_read(tmp_path: Path) -> None:
    (tmp_path / "w.txt").write_bytes("Putin’s stance – unchanged.".encode("cp1252"))
    assert "Putin’s stance" in load_document(tmp_path / "w.txt", tmp_path).text


def test_iter_corpus_skips_hidden_and_unsupported(tmp_path: Path) -> None:
    (tmp_path / ".hidden.txt").write_text("x")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / "a.md").write_text("A.")
    assert [p.name for p in iter_corpus(tmp_path)] == ["a.md"]
    with pytest.raises(CorpusError, match="does not exist"):
        list(iter_corpus(tmp_path / "missing"))


def test_a_yaml_alias_bomb_in_front_matter_is_rejected_at_once(tmp_path: Path) -> None:
    f = tmp_path / "bomb.md"
    f.write_text("---\n" + yaml_alias_bomb() + "---\nBody text of the article.\n", encoding="utf-8")
    assert len(f.read_bytes()) < 1000
    # Rejected for its alias before anything expands (safe_load built a title of 43 million
    # "lol"s from this, holding the library lock for seconds).
    with pytest.raises(IngestError, match="aliases"):
        load_document(f, tmp_path)


def test_front_matter_size_and_field_length_are_bounded(tmp_path: Path) -> None:
    f = tmp_path / "long.md"
    f.write_text("---\ntitle: " + "x" * 1500 + "\n---\nBody.\n", encoding="utf-8")
    with pytest.raises(IngestError, match="field 'title' is 1500 characters"):
        load_document(f, tmp_path)
    f.write_text("---\n" + "\n".join(f"k{i}: v" for i in range(2000)) + "\n---\nBody.\n",
                 encoding="utf-8")
    with pytest.raises(IngestError, match="front matter is .* characters long"):
        load_document(f, tmp_path)
    f.write_text("---\ntitle: Fine\nauthor: A. Writer\n---\nBody text here.\n", encoding="utf-8")
    assert load_document(f, tmp_path).title == "Fine"


def test_a_build_skips_the_bomb_and_indexes_the_rest(tmp_path: Path) -> None:
    import rag

    src = tmp_path / "c"
    src.mkdir()
    (src / "bomb.md").write_text("---\n" + yaml_alias_bomb() + "---\nBody.\n", encoding="utf-8")
    (src / "good.txt").write_text("Moscow keeps a naval base in Tartus.", encoding="utf-8")
    stats = rag.build_index(src, tmp_path / "i", embedding_model="hash")
    assert stats.documents == 1
    assert [doc for doc, _ in stats.skipped] == ["bomb.md"]
    assert "aliases" in stats.skipped[0][1]


def test_links_outside_and_non_utf8_names_are_skipped_not_fatal(tmp_path: Path) -> None:
    import os

    import rag

    src = tmp_path / "c"
    src.mkdir()
    outside = tmp_path / "secret.txt"
    outside.write_text("A file outside the corpus folder.", encoding="utf-8")
    (src / "link.txt").symlink_to(outside)
    with open(os.path.join(os.fsencode(src), b"bad-\xff-name.txt"), "wb") as f:
        f.write(b"Text under a file name that is not UTF-8.")
    (src / "good.txt").write_text("Moscow keeps a naval base in Tartus.", encoding="utf-8")
    stats = rag.build_index(src, tmp_path / "i", embedding_model="hash")
    assert stats.documents == 1
    assert dict(stats.skipped) == {
        "bad-\ufffd-name.txt": "the file name is not valid UTF-8; rename it",
        "link.txt": "a link to a file outside the corpus folder; copy the file in instead",
    }


# -- hostile input (issue 11) ------------------------------------------------------------
def test_a_pdf_decompression_bomb_is_an_ingest_error_not_a_crash(tmp_path: Path) -> None:
    import zlib

    from bench.fuzz import pdf_bytes

    z = zlib.compressobj(9)
    stream = z.compress(b"BT /F1 12 Tf 72 720 Td (Bomb.) Tj ET\n")
    for _ in range(80):  # 80 MB of spaces, past pypdf's 75 MB FlateDecode limit
        stream += z.compress(b" " * (1 << 20))
    stream += z.flush()
    (tmp_path / "bomb.pdf").write_bytes(pdf_bytes(stream, flate=True))
    assert (tmp_path / "bomb.pdf").stat().st_size < 100_000
    # pypdf's LimitReachedError went through: the build aborted with a traceback.
    with pytest.raises(IngestError, match="decompresses past pypdf's safety limit") as err:
        load_document(tmp_path / "bomb.pdf", tmp_path)
    assert str(err.value).startswith("bomb.pdf: ") and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("old", "new", "raised"),
    [  # damaged PDFs found by mutating a good one; pypdf raises these, not a PyPdfError
        (b"/Length ", b"/Length /", "TypeError"),
        (b"trailer\n<<", b"trailer\n/<<", "AttributeError"),
        (b"trailer\n<<", b"trailer\n<</Encrypt 1 0 R", "NotImplementedError"),
        (b"stream\nBT ", b"stream\nBT 1 0 R", "AssertionError"),
        (b"/Pages 2 0 R", b"/Pages 9 0 R", "Invalid object in /Pages"),
    ],
)
def test_whatever_pypdf_raises_on_a_damaged_pdf_is_an_ingest_error(
    tmp_path: Path, old: bytes, new: bytes, raised: str
) -> None:
    data = _minimal_pdf("Moscow pledged to help Syria.")
    assert old in data
    (tmp_path / "bad.pdf").write_bytes(data.replace(old, new, 1))
    with pytest.raises(IngestError, match="bad.pdf: not a readable PDF") as err:
        load_document(tmp_path / "bad.pdf", tmp_path)
    assert raised in str(err.value)


def test_a_pdf_title_that_is_not_text_is_ignored(tmp_path: Path) -> None:
    data = _minimal_pdf("Vilnius hosted the summit on grain exports.").replace(
        b"/Root 1 0 R", b"/Root 1 0 R /Info << /Title 5 /Author (A\\000B) >>")
    (tmp_path / "grain-summit.pdf").write_bytes(data)
    doc = load_document(tmp_path / "grain-summit.pdf", tmp_path)  # AttributeError before
    assert doc.title == "Grain summit"  # from the file name: /Title 5 is no title
    assert doc.author == "AB"


def _is_clean(text: str) -> bool:
    text.encode("utf-8")  # no lone surrogate
    return not any(ord(c) < 32 and c not in "\t\n\r" or 0x7F <= ord(c) < 0xA0
                   or c in "\ufffe\uffff" for c in text)


@pytest.mark.parametrize(
    ("name", "data", "kept"),
    [
        ("fm.md", b'---\ntitle: "Lone \\uD800 title"\nauthor: "A \\uDFFF B\\x01"\n---\n'
         b"Helsinki hosted the talks.\n", "Helsinki hosted the talks."),
        ("ent.html", b"<html><head><title>Talks &#xD800; in Riga</title></head><body><article>"
         b"<p>The ministers met in Riga &#xD800; on Monday to discuss the Baltic pipeline &#x1; "
         b"and its cost &#xFFFE; to the three states, officials said afterwards.</p>"
         b"<p>No agreement &#0; was reached &#x110000; on the route.</p></article></body></html>",
         "to discuss the Baltic pipeline and its cost"),
        ("late-nul.txt", b"Tallinn hosted the talks. " * 400 + b"A NUL \x00 byte and \x1b\x7f.",
         "A NUL byte and"),
        ("utf8.txt", "Riga’s port – “busy” – reopened. ".encode() + b"A bad byte \xff and "
         b"an encoded surrogate \xed\xa0\x80 here.", "Riga’s port – “busy” – reopened."),
        ("u2028.txt", "One line\u2028another\x0cpage\x85next.".encode(), "One line\nanother"),
    ],
)
def test_text_that_is_not_valid_unicode_is_cleaned_at_the_boundary(
    tmp_path: Path, name: str, data: bytes, kept: str
) -> None:
    """Lone surrogates (YAML escapes, &#xD800;, undecodable bytes), noncharacters and control
    characters never reach the tokenizer or SQLite, and the file's text is kept."""
    (tmp_path / name).write_bytes(data)
    doc = load_document(tmp_path / name, tmp_path)
    for value in (doc.text, doc.title, doc.author or ""):
        assert _is_clean(value), repr(value)
    assert kept in doc.text


def test_html_with_one_invalid_character_reference_keeps_its_article(tmp_path: Path) -> None:
    # lxml refused the whole page for &#x1; or &#xFFFE;: "no article text found".
    body = ("<p>The Kremlin held talks with the Syrian opposition in Moscow this week, "
            "officials said on Friday.</p><p>Both sides repeated their positions.</p>")
    for ref in ("&#x1;", "&#xFFFE;", "&#11;"):
        (tmp_path / "a.html").write_text(f"<html><body><article>{ref}{body}</article></body>"
                                         "</html>", encoding="utf-8")
        assert "Both sides repeated" in load_document(tmp_path / "a.html", tmp_path).text
    (tmp_path / "b.html").write_text("<html><body><article><p>1 &#60; 2 and &#x26;c, said "
                                     "the officials on Friday in Moscow this week.</p>"
                                     "</article></body></html>", encoding="utf-8")
    assert "1 < 2 and &c" in load_document(tmp_path / "b.html", tmp_path).text


def test_utf8_with_a_few_broken_bytes_is_not_read_as_windows_1252(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes("Putin’s stance – “unchanged”.".encode() + b" \xff.")
    text = load_document(tmp_path / "a.txt", tmp_path).text
    assert text.startswith("Putin’s stance – “unchanged”.")  # was "Putinâ€™s stance â€“"
    assert text.endswith("\ufffd.")


def test_a_huge_line_without_a_full_stop_is_broken_into_bounded_sentences(tmp_path: Path) -> None:
    from rag.chunk import chunk_document
    from rag.ingest import MAX_SENTENCE
    from rag.text import split_sentences

    words = ["moscow", "kremlin", "talks", "naval", "base", "tartus"]
    line = " ".join(words[i % 6] for i in range(60_000))  # ~400 KB on one line
    (tmp_path / "huge.txt").write_text(line + "\n\nA short last paragraph.", encoding="utf-8")
    doc = load_document(tmp_path / "huge.txt", tmp_path)
    assert doc.text.split() == (line + " A short last paragraph.").split()  # no word lost
    assert max(e - s for s, e in split_sentences(doc.text)) <= MAX_SENTENCE
    assert max(len(c.text) for c in chunk_document(doc)) <= MAX_SENTENCE  # was one 400 KB chunk
    (tmp_path / "word.txt").write_text("x" * 5000, encoding="utf-8")  # one enormous word
    assert load_document(tmp_path / "word.txt", tmp_path).text == "\n".join(
        ["x" * MAX_SENTENCE] * 2 + ["x" * 1000])


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.pdf", b"", "the file is empty (0 bytes)"),
        ("empty.txt", b"", "the file is empty (0 bytes)"),
        ("fm.md", b"---\na: [1\nb: 2\n---\nBody.", "not valid YAML (expected ',' or ']', but "
         "got ':' at line 3); fix or remove it"),
        ("nav.html", b"<html><body><nav><a href='/'>Home</a> | <a href='/w'>World</a></nav>"
         b"</body></html>", "no article text found"),
        ("deep.html", b"<html><body>" + b"<div>" * 5000 + b"<p>Deep text of the article, "
         b"long enough to be an article if it could be reached.</p>" + b"</div>" * 5000,
         "no article text found"),
        ("list.md", b"---\n- a\n- b\n---\nBody.", "must be key: value lines"),
    ],
)
def test_each_bad_file_gives_one_line_saying_what_and_how_to_fix(
    tmp_path: Path, name: str, data: bytes, message: str
) -> None:
    (tmp_path / name).write_bytes(data)
    with pytest.raises(IngestError) as err:
        load_document(tmp_path / name, tmp_path)
    assert message in str(err.value)
    assert str(err.value).startswith(f"{name}: ") and "\n" not in str(err.value)


def test_scan_corpus_names_every_file_it_passes_over(tmp_path: Path) -> None:
    import os

    from rag.ingest import scan_corpus

    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.txt").write_text("A text.")
    (tmp_path / "x.md").mkdir()  # a folder named like a file: walked
    (tmp_path / "x.md" / "b.txt").write_text("B text.")
    (tmp_path / "linkdir").symlink_to(tmp_path / "real")
    (tmp_path / "broken.txt").symlink_to(tmp_path / "nowhere.txt")
    (tmp_path / "loop1.txt").symlink_to(tmp_path / "loop2.txt")
    (tmp_path / "loop2.txt").symlink_to(tmp_path / "loop1.txt")
    os.mkfifo(tmp_path / "pipe.txt")  # reading it would block the build for ever
    (tmp_path / "Moscow — résumé 🇷🇺.md").write_text("C text.")
    files, skipped = scan_corpus(tmp_path)
    assert [f.relative_to(tmp_path).as_posix() for f in files] == [
        "Moscow — résumé 🇷🇺.md", "real/a.txt", "x.md/b.txt"]
    reasons = dict(skipped)
    assert sorted(reasons) == ["broken.txt", "linkdir", "loop1.txt", "loop2.txt", "pipe.txt"]
    assert "a broken link" in reasons["broken.txt"] and "a broken link" in reasons["loop1.txt"]
    assert "a link to a folder" in reasons["linkdir"]
    assert "not a regular file" in reasons["pipe.txt"]


@pytest.mark.parametrize(
    ("front_matter", "message"),
    [  # ValueError and RecursionError from the safe loader went through and ended the build
        ("date: 2017-13-45", "month must be in 1..12"),
        ("date: !!int abc", "invalid literal for int()"),
        ("n: 0x" + "f" * 5000, "Exceeds the limit (4300 digits)"),
        ("title: " + "[" * 5000, "maximum recursion depth exceeded"),
        ("outlet: !!timestamp Foreign Policy Blogs", "AttributeError"),
        ("draft: !!bool maybe", "KeyError"),
        ("n: !!float ''", "IndexError"),
    ],
)
def test_a_front_matter_value_yaml_cannot_build_is_an_ingest_error(
    tmp_path: Path, front_matter: str, message: str
) -> None:
    (tmp_path / "a.md").write_text(f"---\n{front_matter}\n---\nBody text.\n", encoding="utf-8")
    with pytest.raises(IngestError, match="front matter holds a value YAML cannot read") as err:
        load_document(tmp_path / "a.md", tmp_path)
    assert message in str(err.value) and "\n" not in str(err.value)
    (tmp_path / "a.md").write_text('---\ndate: "2017-13-45"\n---\nBody text.\n', encoding="utf-8")
    assert load_document(tmp_path / "a.md", tmp_path).date == "2017-13-45"  # quoted: fine
