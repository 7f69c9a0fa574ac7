"""The review report in a real headless Chromium (Debian's `chromium`, driven by playwright; no browser is
ever downloaded): clicking a citation opens the right page with the quote highlighted and visible.

Skips only when chromium is absent and DOCPIPE_REQUIRE_BROWSER is not set; CI sets it, so there a missing
browser fails the test instead of hiding it.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator

import pytest

from tests.test_review import GOVERNING, INVENTED, PAYMENT, SCRIPT, hostile_contract, reviewed_contract

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.slow


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """One Chromium for the module, with a fresh profile (--user-data-dir) of its own."""
    if CHROMIUM is None:
        if os.environ.get("DOCPIPE_REQUIRE_BROWSER"):
            pytest.fail("DOCPIPE_REQUIRE_BROWSER is set but no chromium is installed (apt-get install chromium)")
        pytest.skip("chromium is not installed (set DOCPIPE_REQUIRE_BROWSER=1 to make this a failure)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1400, "height": 900}, offline=True,
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser) -> Iterator:
    """A new tab that records script errors, console errors and dialogs (an alert() would be one)."""
    tab = browser.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda exc: problems.append(f"script error: {exc}"))
    tab.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    tab.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    tab.problems = problems  # type: ignore[attr-defined]
    try:
        yield tab
    finally:
        tab.close()


def _open_citation(page, chip_selector: str) -> tuple[str, str | None]:
    """Click a citation chip; returns (the page number shown, the highlighted text or None)."""
    page.locator(chip_selector).click()
    shown = page.locator("#page-text").get_attribute("data-page") or ""
    mark = page.locator("#page-text mark#highlight")
    return shown, (_squash(mark.inner_text()) if mark.count() else None)


def test_clicking_a_citation_shows_its_page_with_the_quote_highlighted(page, tmp_path):
    output, doc_id = reviewed_contract(tmp_path)
    page.goto((output / doc_id / "report.html").as_uri())

    shown, marked = _open_citation(page, "#clauses .chip")
    assert (shown, marked) == ("3", GOVERNING)
    assert page.locator("#viewer-title").inner_text().startswith("Page 3 of 5")
    mark = page.locator("#page-text mark#highlight")
    assert mark.is_visible()
    box, pane = mark.bounding_box(), page.locator("#page-text").bounding_box()
    assert box and pane and pane["y"] <= box["y"] and box["y"] + box["height"] <= pane["y"] + pane["height"]
    assert box["y"] + box["height"] <= 900  # inside the window, not scrolled away
    page.screenshot(path=str(tmp_path / "report-citation.png"))
    assert (tmp_path / "report-citation.png").stat().st_size > 10_000

    shown, marked = _open_citation(page, '#summary .chip[data-status="relocated"]')
    assert (shown, marked) == ("4", PAYMENT)
    assert "cited page 2" in page.locator("#viewer-banner").inner_text()

    chip = page.locator('#summary .chip[data-status="unverified"]')
    assert "unverified" in chip.inner_text()
    assert chip.evaluate("c => getComputedStyle(c).borderTopStyle") == "dashed"
    shown, marked = _open_citation(page, '#summary .chip[data-status="unverified"]')
    assert (shown, marked) == ("5", None)  # the claimed page, nothing highlighted
    banner = page.locator("#viewer-banner").inner_text()
    assert "Unverified" in banner and INVENTED in banner
    assert page.problems == []  # type: ignore[attr-defined]


def test_index_links_filters_and_sorts(page, tmp_path):
    output, doc_id = reviewed_contract(tmp_path)
    page.goto((output / "index.html").as_uri())
    rows = page.locator("#docs tbody tr")
    page.fill("#filter-text", "no such document")
    assert rows.first.is_hidden() and page.locator("#shown-docs").inner_text() == "0 of 1"
    page.fill("#filter-text", "contract")
    assert rows.first.is_visible()
    page.locator("#docs th", has_text="Pages").click()
    assert page.locator("#docs th", has_text="Pages").get_attribute("aria-sort") == "descending"
    page.check("#hide-empty")
    assert page.locator("#shown-cats").inner_text() == "1"  # Anti-Assignment is found nowhere
    page.locator("#matrix td.cell.found a").click()  # a matrix cell opens that clause's citation
    page.wait_for_selector("#page-text mark#highlight")
    assert page.url.endswith(f"{doc_id}/report.html#c1")
    assert _squash(page.locator("#page-text mark#highlight").inner_text()) == GOVERNING
    page.screenshot(path=str(tmp_path / "index-to-report.png"))
    assert page.problems == []  # type: ignore[attr-defined]


def test_html_in_a_document_is_shown_as_text_and_never_runs(page, tmp_path):
    output = hostile_contract(tmp_path)
    (folder,) = [p for p in output.iterdir() if p.is_dir()]
    for html in (output / "index.html", folder / "report.html"):
        page.goto(html.as_uri())
        assert page.locator("img").count() == 0
    page.locator("#summary .chip").first.click()
    assert SCRIPT in page.locator("#summary").inner_text()
    assert SCRIPT in page.locator("#page-text").inner_text()
    assert page.problems == []  # type: ignore[attr-defined]  (no alert dialog, no script error)
