"""`--ocr-engine tesseract` (pipeline/ingest/tesseract.py) with Debian's real `tesseract`, on the image-only page
of tests/test_ocr.py; skipped where tesseract is not on PATH (the default engine never needs it)."""

from __future__ import annotations

import os

import pytest
from rapidfuzz.distance import Levenshtein

from pipeline.config import RunConfig
from pipeline.ingest import tesseract
from pipeline.ingest.ocr import ocr_installed, ocr_key
from pipeline.run.reader import DocumentReader
from tests.test_ocr import CONTRACT, SCANNED, _norm, _text, mixed_pdf  # noqa: F401 — mixed_pdf is a fixture

# CI sets DOCPIPE_REQUIRE_TESSERACT (and installs it): there a missing tesseract fails these tests, not skips them.
needs_tesseract = pytest.mark.skipif(not ocr_installed("tesseract") and not os.environ.get("DOCPIPE_REQUIRE_TESSERACT"),
                                     reason="tesseract is not on PATH (apt install tesseract-ocr)")


def test_tsv_becomes_lines_in_reading_order_with_a_weighted_confidence():
    header = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"
    rows = [header, "1\t1\t0\t0\t0\t0\t0\t0\t10\t10\t-1\t",  # the page: no text
            "5\t1\t1\t1\t1\t1\t0\t0\t5\t5\t90\tThe", "5\t1\t1\t1\t1\t2\t6\t0\t5\t5\t60\tBuyer",
            "5\t1\t1\t1\t2\t1\t0\t9\t5\t5\t100\tpays", "5\t1\t2\t1\t1\t1\t0\t20\t5\t5\t95\t \t"]
    text, confidence = tesseract._parse("\n".join(rows))
    assert text == "The Buyer\npays"
    assert confidence == round((0.9 * 3 + 0.6 * 5 + 1.0 * 4) / 12, 4)
    assert tesseract._parse(header) == ("", None)


@needs_tesseract
@pytest.mark.slow
def test_tesseract_reads_the_scanned_page_in_the_reader_process(mixed_pdf):  # noqa: F811
    with DocumentReader(RunConfig(ocr="auto", ocr_engine="tesseract", jobs=1)) as reader:
        scanned, text = reader.read(mixed_pdf).pages
    assert (scanned.source, scanned.status, text.source) == ("ocr", "ok", "text")
    assert scanned.ocr_confidence is not None and scanned.ocr_confidence > 0.9
    original = _norm(_text(CONTRACT, SCANNED))
    assert Levenshtein.distance(original, _norm(scanned.text)) / len(original) < 0.05
    key = ocr_key(RunConfig(ocr="auto", ocr_engine="tesseract"))
    assert key is not None and key["versions"]["tesseract"].startswith("tesseract ")  # type: ignore[index]
    assert key != ocr_key(RunConfig(ocr="auto"))


@needs_tesseract
@pytest.mark.slow
def test_tesseract_gets_what_is_left_of_the_page_time_limit(mixed_pdf):  # noqa: F811
    # At 600 dpi tesseract needs several CPU seconds; the page has 2, rendering takes part: the child's CPU cap
    # (not the reader's own timer, which does not count a child) stops it, and the page fails alone.
    config = RunConfig(ocr="auto", ocr_engine="tesseract", ocr_dpi=600, ocr_page_timeout=2, jobs=1)
    with DocumentReader(config) as reader:
        scanned, text = reader.read(mixed_pdf).pages
    assert (scanned.status, text.status) == ("failed", "ok")
    assert scanned.error is not None and "tesseract went over the page's CPU time" in scanned.error
