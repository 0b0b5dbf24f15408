from __future__ import annotations

from pathlib import Path

import pytest

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
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
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
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return out


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


def _bomb(levels: int = 8) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + f"\ntitle: *{chr(ord('a') + levels - 1)}\n"


def test_a_yaml_alias_bomb_in_front_matter_is_rejected_at_once(tmp_path: Path) -> None:
    f = tmp_path / "bomb.md"
    f.write_text("---\n" + _bomb() + "---\nBody text of the article.\n", encoding="utf-8")
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
    (src / "bomb.md").write_text("---\n" + _bomb() + "---\nBody.\n", encoding="utf-8")
    (src / "good.txt").write_text("Moscow keeps a naval base in Tartus.", encoding="utf-8")
    stats = rag.build_index(src, tmp_path / "i", embedding_model="hash")
    assert stats.documents == 1
    assert [doc for doc, _ in stats.skipped] == ["bomb.md"]
    assert "aliases" in stats.skipped[0][1]


def test_links_outside_and_non_utf8_names_are_skipped_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
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
    with caplog.at_level("WARNING"):
        stats = rag.build_index(src, tmp_path / "i", embedding_model="hash")
    assert stats.documents == 1
    assert "outside the corpus folder" in caplog.text
    assert "not valid UTF-8" in caplog.text
