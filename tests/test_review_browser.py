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


def test_fields_view_shows_one_field_across_documents_and_filters(page, tmp_path):
    output, doc_id = reviewed_contract(tmp_path)
    page.goto((output / "fields.html").as_uri() + "#field=Governing%20Law")
    assert page.locator("#field").input_value() == "Governing Law"  # the URL picked the field
    visible = page.locator("#fields tbody tr:visible")
    assert visible.count() == 1 and GOVERNING in _squash(visible.first.inner_text())
    page.select_option("#field", "Anti-Assignment")
    assert visible.count() == 1 and "absent" in visible.first.inner_text()
    page.select_option("#field", "")
    page.select_option("#field-state", "absent")
    assert {r.get_attribute("data-field") for r in visible.all()} == {"Anti-Assignment"}
    page.select_option("#field-state", "")
    page.check("#field-unverified")
    assert visible.count() == 1 and "The supplier sets prices freely." in visible.first.inner_text()  # invented
    page.uncheck("#field-unverified")
    page.fill("#field-text", "no such text")
    assert visible.count() == 0 and page.locator("#shown-rows").inner_text().startswith("0 of ")
    page.fill("#field-text", "")
    page.select_option("#field", "Governing Law")
    page.locator("#fields tbody tr:visible a.chip").click()  # the chip opens the citation in the report
    page.wait_for_selector("#page-text mark#highlight")
    assert page.url.endswith(f"{doc_id}/report.html#c1")
    assert _squash(page.locator("#page-text mark#highlight").inner_text()) == GOVERNING
    assert page.problems == []  # type: ignore[attr-defined]


def test_citation_links_open_the_original_pdf_at_the_cited_page(page, tmp_path):
    output, doc_id = reviewed_contract(tmp_path)
    pdf = tmp_path / "in" / "contract.pdf"
    page.goto((output / doc_id / "report.html").as_uri())
    link = page.locator("#clauses a.pdf-link")
    assert link.get_attribute("href") == "../../in/contract.pdf#page=3"  # relative: the folder can move
    assert link.evaluate("a => a.href") == pdf.as_uri() + "#page=3"
    page.locator('#summary .chip[data-status="relocated"]').click()
    viewer_link = page.locator("#viewer-pdf")
    assert viewer_link.is_visible() and viewer_link.evaluate("a => a.href") == pdf.as_uri() + "#page=4"
    page.goto((output / "fields.html").as_uri())
    hrefs = {a.evaluate("a => a.href") for a in page.locator("#fields a.pdf-link").all()}
    assert pdf.as_uri() + "#page=3" in hrefs  # from the index folder too
    with page.context.expect_page() as opened:  # a click opens the PDF itself, at that page
        page.locator("#fields a.pdf-link").first.click()
    assert opened.value.url.startswith(pdf.as_uri() + "#page=")
    opened.value.close()

    pdf.rename(pdf.with_name("moved.pdf"))  # unreachable: no link rather than a broken one
    from pipeline.render.review import write_review

    write_review(output)
    page.goto((output / doc_id / "report.html").as_uri())
    assert page.locator("a.pdf-link[href]").count() == 0
    assert page.problems == []  # type: ignore[attr-defined]
