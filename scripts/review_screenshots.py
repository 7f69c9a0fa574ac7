"""Screenshots of the review report for docs/: `python scripts/review_screenshots.py OUT docs/`.

OUT is an output folder of `docpipe run samples/ -o OUT`. Drives the system's Chromium with playwright
(never downloads a browser): index.html in full, and one document report with a summary citation opened.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main(output: Path, target: Path, document: str = "neon-systems-distributor-agreement", point: int = 2) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("chromium is not installed")
    report = next(p for p in output.glob("*/report.html") if document in p.read_text("utf-8"))
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        context = pw.chromium.launch_persistent_context(profile, executable_path=chromium, headless=True,
                                                        args=FLAGS, viewport={"width": 1440, "height": 900})
        page = context.new_page()
        page.goto((output / "index.html").as_uri())
        page.screenshot(path=str(target / "review-index.png"), full_page=True)
        page.goto(report.as_uri())
        page.locator("#summary .chip").nth(point - 1).click()
        page.screenshot(path=str(target / "review-report.png"))
        context.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
