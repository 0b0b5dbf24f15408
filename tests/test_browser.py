"""Browser test: the real app in headless Chromium (Playwright with the system /usr/bin/chromium).

At desktop width (1360 px) and at 390 px, in light and dark mode (``?__theme=dark``):

- chat: two answers in a row; each ``[n]`` of both answers points at a quote among the
  sources of its own answer, and clicking one in the first answer scrolls to that quote; the
  hover tooltip gives the title, outlet and the text around the quote (not the quote) and
  stays inside the window; the quotes of one passage are one card, each highlighted; "Read in
  the article" opens the whole article scrolled to the highlighted quote; the chat scrolls to
  the new question; a follow-up shows its rewritten question; an abstention says so once; a
  false premise is corrected under its own heading with a working ``[1]``;
- library: an upload of a good and a binary file adds one and names the other with the
  reason, the table stays and the selection is cleared, so the next upload does not send
  the rejected file again; a reload shows the new count; delete asks first, naming the
  document;
- check a text: one green and one red sentence, each with its card; an empty text shows an
  error.

Screenshots go to ``artifacts/`` (``ui-chat-<size>-<theme>.png``, ``ui-article-*``,
``ui-library-*``, ``ui-delete-confirm-*``, ``ui-check.png``). Skipped, with the reason, when
Chromium or the ``playwright`` package is missing (``scripts/install_browser.sh`` installs
both). Never downloads a browser.
"""

from __future__ import annotations

import importlib.util
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest_ui import ROOT, running_app

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = ROOT / "artifacts"
DEMO = "Why won't Russia drop Assad?"
SECOND = "What naval assets does Russia have in Syria?"
VERBATIM = ("It would deprive Moscow of its only ally in the Middle East that hosts Russian air "
            "force and naval assets.")  # copied from corpus/russia-assad-ap.md
INVENTED = "The Eiffel Tower was moved to Berlin in 2015."
GOOD_DOC = """---
title: The Zorblat cheese festival
outlet: Wumpington Gazette
---
The Zorblat cheese festival takes place every April in the village of Lower Wumpington.
"""
OTHER_DOC = """---
title: The Wumpington pudding race
---
Every May the village of Lower Wumpington races puddings down Pudding Hill.
"""
SIZES = {"desktop": (1360, 900), "390": (390, 844)}
CONFIGS = [("desktop", "light"), ("desktop", "dark"), ("390", "light"), ("390", "dark")]

# In CI (CI=true) a missing browser is a failure, not a skip: the setup must install it.
_MAY_SKIP = not os.environ.get("CI")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.ui,
    pytest.mark.model,
    pytest.mark.skipif(_MAY_SKIP and not CHROMIUM.exists(),
                       reason="/usr/bin/chromium is missing; run scripts/install_browser.sh"),
    pytest.mark.skipif(_MAY_SKIP and importlib.util.find_spec("playwright") is None,
                       reason="playwright is not installed; run scripts/install_browser.sh"),
]


# -- fixtures -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    with running_app(tmp_path_factory.mktemp("browser")) as (url, corpus):
        yield url, corpus


@pytest.fixture(scope="module")
def browser(app) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def open_page(app, browser) -> Iterator[Callable[[str, str], Any]]:
    """open_page(size, theme): a fresh page of the app at that width and theme."""
    contexts = []

    def _open(size: str, theme: str) -> Any:
        width, height = SIZES[size]
        ctx = browser.new_context(viewport={"width": width, "height": height},
                                  color_scheme=theme)
        contexts.append(ctx)
        page = ctx.new_page()
        page.goto(app[0] + ("/?__theme=dark" if theme == "dark" else "/"),
                  wait_until="domcontentloaded")
        page.locator("#chat").wait_for(timeout=60_000)
        if theme == "dark":
            assert "dark" in (page.locator("body").get_attribute("class") or "")
        return page

    yield _open
    for ctx in contexts:
        ctx.close()


@pytest.fixture
def page(open_page) -> Any:
    return open_page("desktop", "light")


# -- helpers ------------------------------------------------------------------------------
def _shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path))
    return path


def _ask(page, question: str, n_before: int) -> tuple[float, float]:
    """Ask and wait for the answer to be final: (first [n] or note, done) in seconds."""
    box = page.locator("#question textarea").first
    box.wait_for(timeout=60_000)
    box.fill(question)
    t0 = time.perf_counter()
    box.press("Enter")
    turn = page.locator(f"#turn-{n_before}")
    turn.locator("a.cite, .note").first.wait_for(timeout=60_000)
    first = time.perf_counter() - t0
    turn.locator(".meta:not(.pending)").wait_for(timeout=60_000)  # the answer is final
    return first, time.perf_counter() - t0


def _tab(page, name: str) -> None:
    tab = page.get_by_role("tab", name=name)
    if not tab.count():  # a narrow window keeps some tabs in Gradio's "More tabs" menu
        page.get_by_label("More tabs").click()
        page.locator(".overflow-dropdown button", has_text=name).click()
    else:
        tab.click()


def _in_view(page, selector: str) -> bool:
    """Whether the element is inside the window and inside every scrolling box around it."""
    return bool(page.evaluate(
        """(sel) => {
          const e = document.querySelector(sel); if (!e) return false;
          const r = e.getBoundingClientRect();
          if (r.bottom < 0 || r.top > innerHeight) return false;
          for (let p = e.parentElement; p; p = p.parentElement) {
            const s = getComputedStyle(p);
            if (!/(auto|scroll)/.test(s.overflowY)) continue;
            const b = p.getBoundingClientRect();
            if (r.bottom < b.top || r.top > b.bottom) return false;
          }
          return true; }""", selector))


CITES_POINT_HOME = """() => [...document.querySelectorAll('#chat a.cite')].map((a) => {
  const t = document.getElementById(a.getAttribute('href').slice(1));
  return !!t && t.closest('.turn') === a.closest('.turn') && !!t.closest('mark');
})"""
QUOTE_OF = """(id) => { const b = document.getElementById(id);
  return b.closest('mark').textContent.replace(/^\\d+/, '').trim(); }"""


# -- chat ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("size", "theme"), CONFIGS)
def test_chat_answers_keep_their_sources(open_page, size: str, theme: str) -> None:
    page = open_page(size, theme)
    width = SIZES[size][0]
    first, done = _ask(page, DEMO, 0)
    _ask(page, SECOND, 1)

    # every [n] of both answers points at a quote among its own answer's sources
    homes = page.evaluate(CITES_POINT_HOME)
    assert len(homes) >= 4 and all(homes), homes
    for k in (0, 1):
        assert page.locator(f"#turn-{k} a.cite").count() >= 1
        assert page.locator(f"#turn-{k} .sources mark.q").count() >= 1

    # the chat scrolled to the new question
    page.wait_for_timeout(300)
    assert _in_view(page, "#turn-1 .msg.user")
    offset = page.evaluate("""() => document.querySelector('#turn-1').getBoundingClientRect().top
        - document.querySelector('#chat .chat').getBoundingClientRect().top""")
    assert -2 <= offset <= 40, offset

    # the quotes of one passage are one card, each quote highlighted and numbered
    card = page.locator("#turn-0 .card", has=page.locator("#src-0-1"))
    assert card.locator(".qn").count() == card.locator(".card-head .num").count() >= 2
    assert card.locator("mark.q").count() >= 2

    # hovering [1] of the first answer: title, outlet and the text around the quote
    quote = page.evaluate(QUOTE_OF, "src-0-1")
    cite = page.locator("#turn-0 a.cite").first
    cite.scroll_into_view_if_needed()
    cite.hover()
    tip = page.locator("#cite-tip")
    tip.wait_for(state="visible", timeout=5_000)
    text = tip.inner_text()
    assert card.locator(".src-title").inner_text() in text
    assert card.locator(".src-outlet").inner_text() in text
    assert "[1: this sentence]" in text and quote not in text
    box = tip.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 1

    # clicking [1] of the first answer (not the latest) scrolls to its quote there
    cite.click()
    page.wait_for_function("(id) => document.getElementById(id).closest('mark')"
                           ".classList.contains('flash')", arg="src-0-1", timeout=5_000)
    page.wait_for_timeout(800)  # smooth scrolling
    assert _in_view(page, "#src-0-1")
    _shot(page, f"ui-chat-{size}-{theme}.png")

    # "Read in the article": the whole article, scrolled to the highlighted quote
    card.locator("button.open-doc").click()
    focus = page.locator("#doc-modal mark.focus")
    focus.wait_for(timeout=10_000)
    assert quote in focus.inner_text()
    assert page.locator("#doc-modal .doc-text").inner_text().count("\n") > 3  # the whole text
    page.wait_for_timeout(200)
    assert _in_view(page, "#doc-modal mark.focus")
    if (size, theme) in (("desktop", "light"), ("390", "dark")):
        _shot(page, f"ui-article-{size}-{theme}.png")
    page.keyboard.press("Escape")
    page.locator("#doc-modal").wait_for(state="hidden")
    print(f"\nbrowser {size}/{theme}: first [n] {first:.3f} s, full answer {done:.3f} s")


def test_followup_shows_rewritten_question(page) -> None:
    _ask(page, DEMO, 0)
    _ask(page, "And why does that matter to Putin?", 1)
    rewritten = page.locator("#turn-1 .rewritten")
    assert "Why does that matter to Putin (Russia, Assad)?" in rewritten.inner_text()


def test_abstention_and_false_premise(page) -> None:
    _ask(page, "What is the capital of Australia?", 0)
    bot = page.locator("#turn-0 .msg.bot")
    assert bot.inner_text().count("don't answer") == 1  # said once
    assert "listed below" not in bot.inner_text()
    assert bot.locator("details.closest .card.closest").count() >= 1
    _ask(page, "Why did Putin agree to abandon Assad?", 1)
    bot = page.locator("#turn-1 .msg.bot")
    assert "premise" in (bot.get_attribute("class") or "")
    assert "don't support this question's premise" in bot.locator(".note.premise").inner_text()
    assert "don't answer" not in bot.inner_text()
    cite = bot.locator("a.cite").first
    assert cite.get_attribute("href") == "#src-1-1"
    assert bot.locator("#src-1-1").count() == 1
    cite.click()
    page.wait_for_function("() => document.getElementById('src-1-1').closest('mark')"
                           ".classList.contains('flash')", timeout=5_000)


# -- library ------------------------------------------------------------------------------
def _count(page) -> int:
    found = re.search(r"(\d+) documents? indexed", page.locator("#lib-count").inner_text())
    assert found, page.locator("#lib-count").inner_text()
    return int(found.group(1))


def _pick(page, label: str) -> None:
    field = page.locator("#doc-pick input").first
    field.click()
    field.fill(label)
    page.get_by_role("option", name=label).first.click()


@pytest.mark.parametrize(("size", "theme"), CONFIGS)
def test_library_upload_reload_delete(open_page, tmp_path: Path, size: str, theme: str) -> None:
    good, other, binary = (tmp_path / "zorblat.md", tmp_path / "pudding.md",
                           tmp_path / "binary.txt")
    good.write_text(GOOD_DOC)
    other.write_text(OTHER_DOC)
    binary.write_bytes(b"\x00\x01\x02ELF\x00" * 100)
    page = open_page(size, theme)
    _tab(page, "Library")
    page.locator("#lib-count").filter(has_text="indexed").wait_for()
    before = _count(page)
    rows = page.locator("#documents tbody tr")
    assert rows.count() == before

    # one good and one binary file: the good one is added, the other named with the reason
    page.locator("#upload-files input[type=file]").set_input_files([str(good), str(binary)])
    page.locator("#upload-files").filter(has_text="binary").wait_for()  # "binary" ".txt"
    page.locator("#add-btn").click()
    message = page.locator("#lib-msg .lib-msg")
    message.wait_for(timeout=60_000)
    text = message.inner_text()
    assert "zorblat.md added" in text
    assert "binary.txt rejected: looks like a binary file" in text
    assert _count(page) == before + 1 and rows.count() == before + 1  # the table stays
    assert "Error" not in page.locator("#documents").inner_text()
    assert "binary" not in page.locator("#upload-files").inner_text()  # selection cleared
    page.wait_for_timeout(300)
    _shot(page, f"ui-library-{size}-{theme}.png")

    # the next upload sends only what is chosen now
    page.locator("#upload-files input[type=file]").set_input_files([str(other)])
    page.locator("#upload-files").filter(has_text="pudding").wait_for()
    page.locator("#add-btn").click()
    page.locator("#lib-msg .lib-msg", has_text="pudding.md").wait_for(timeout=60_000)
    text = page.locator("#lib-msg").inner_text()
    assert "pudding.md added" in text and "binary" not in text and "zorblat" not in text

    # a reload reads the library afresh
    page.reload(wait_until="domcontentloaded")
    page.locator("#chat").wait_for()
    _tab(page, "Library")
    page.locator("#lib-count").filter(has_text=f"{before + 2} documents").wait_for()
    assert page.locator("#documents").filter(has_text="The Zorblat cheese festival").count()

    # delete asks first, naming the document; cancel keeps it
    _pick(page, "The Zorblat cheese festival — zorblat.md")
    page.locator("#del-btn").click()
    confirm = page.locator("#delete-confirm")
    confirm.wait_for(state="visible")
    assert "Delete The Zorblat cheese festival (zorblat.md)" in confirm.inner_text()
    page.wait_for_timeout(700)  # scrolled into view (smoothly)
    assert _in_view(page, "#del-yes")
    if (size, theme) in (("desktop", "light"), ("390", "dark")):
        _shot(page, f"ui-delete-confirm-{size}-{theme}.png")
    page.locator("#del-no").click()
    confirm.wait_for(state="hidden")
    assert _count(page) == before + 2
    _pick(page, "The Zorblat cheese festival — zorblat.md")
    page.locator("#del-btn").click()
    page.locator("#del-yes").click()
    page.locator("#lib-msg .lib-msg.ok", has_text="Deleted The Zorblat").wait_for(timeout=60_000)
    assert _count(page) == before + 1
    _pick(page, "The Wumpington pudding race — pudding.md")
    page.locator("#del-btn").click()
    page.locator("#del-yes").click()
    page.locator("#lib-msg .lib-msg.ok", has_text="pudding.md").wait_for(timeout=60_000)
    assert _count(page) == before and rows.count() == before


# -- check a text -------------------------------------------------------------------------
def test_check_a_text_tab(page) -> None:
    _tab(page, "Check a text")
    box = page.locator("#check-input textarea").first
    box.wait_for(timeout=10_000)
    box.fill(f"{VERBATIM} {INVENTED}")
    t0 = time.perf_counter()
    page.locator("#check-btn").click()
    result = page.locator("#check-result")
    result.locator(".chk-summary").wait_for(timeout=60_000)
    took = time.perf_counter() - t0
    sentences = result.locator(".chk-text .chk-s")
    assert sentences.count() == 2
    assert sentences.nth(0).inner_text().startswith(VERBATIM)
    assert sentences.nth(1).inner_text().startswith(INVENTED)
    cards = result.locator(".chk-card")
    assert cards.count() == 2
    assert cards.nth(0).locator(".src-title").first.inner_text().strip()
    # each sentence is numbered and links to its card; hovering one highlights the other
    assert sentences.nth(1).locator(".chk-n").inner_text() == "[2]"
    assert sentences.nth(1).get_attribute("href") == "#chk-2"
    assert cards.nth(1).get_attribute("id") == "chk-2"
    sentences.nth(1).hover()
    assert "linked" in (cards.nth(1).get_attribute("class") or "")
    path = _shot(page, "ui-check.png")
    print(f"\nbrowser: checked 2 sentences in {took:.3f} s; screenshot {path}")
    # the verdicts: the copied sentence green with its quote, the invented one red
    green = result.locator(".chk-text .chk-s.ok")
    red = result.locator(".chk-text .chk-s.bad")
    assert green.count() == 1 and red.count() == 1
    assert green.first.inner_text().startswith(VERBATIM)
    assert red.first.inner_text().startswith(INVENTED)
    assert "1 of 2 sentences supported" in result.locator(".chk-summary").inner_text()
    assert result.locator(".chk-card.ok mark").first.inner_text().strip()
    bad_card = result.locator(".chk-card.bad").first
    assert bad_card.locator(".chk-label").text_content() == "Closest passage"  # shown uppercase
    assert bad_card.locator(".chk-reason").inner_text().strip()
    assert bad_card.locator(".src-title").inner_text().strip()


def test_check_a_text_shows_errors(page) -> None:
    _tab(page, "Check a text")
    page.locator("#check-input textarea").first.fill("   ")
    page.locator("#check-btn").click()
    error = page.locator("#check-result .chk-error")
    error.wait_for(timeout=30_000)
    assert "empty" in error.inner_text()
    assert "Traceback" not in page.locator("#check-result").inner_text()
