"""OCR of pages without a usable text layer (pipeline/ingest/ocr.py), with the real engine (rapidocr + onnxruntime)
on an image-only page made from a sample contract; the CLI run under the network guard (offline); `--ocr never`
as before OCR existed; and the extra hidden (`sys.modules[name] = None`: Python's own way to make an import fail)."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rapidfuzz.distance import Levenshtein

from pipeline.cite.locate import PageIndex
from pipeline.config import RunConfig
from pipeline.ingest.ocr import MIN_INK, TOO_LITTLE, OcrOptions, ocr_installed, unusable
from pipeline.run.reader import DocumentReader
from pipeline.merge.assemble import assemble
from pipeline.models import Document, EngineInfo, Page, Source
from pipeline.store.key import key_parts, result_key
from tests.conftest import SAMPLES

REPO = Path(__file__).resolve().parents[1]
CONTRACT = SAMPLES / "cybergy-affiliate-agreement.pdf"
SCANNED, TEXT = 2, 3  # the contract's pages that become page 1 (an image) and page 2 (its text layer) of the test PDF
needs_ocr = pytest.mark.skipif(not ocr_installed() and not os.environ.get("DOCPIPE_REQUIRE_OCR"),
                               reason="the OCR extra is not installed (from the source folder: pip install -e '.[ocr]')")


def _text(pdf_path: Path, number: int) -> str:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(pdf_path)
    try:
        return pdf[number - 1].get_textpage().get_text_range()
    finally:
        pdf.close()


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\xa0", " ")).strip()


@pytest.fixture(scope="module")
def mixed_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Page 1: the contract's page SCANNED rendered at 200 dpi and rebuilt as an image-only page (fpdf2);
    page 2: the contract's page TEXT as it is (a text layer)."""
    import pypdfium2 as pdfium
    from fpdf import FPDF
    from pypdf import PdfReader, PdfWriter

    folder = tmp_path_factory.mktemp("ocr")
    source = pdfium.PdfDocument(CONTRACT)
    page = source[SCANNED - 1]
    width, height = page.get_size()
    image = io.BytesIO()
    page.render(scale=200 / 72, grayscale=True).to_pil().save(image, format="PNG")
    source.close()
    scan = FPDF(unit="pt")
    scan.add_page(format=(width, height))
    scan.image(image, x=0, y=0, w=width, h=height)
    scan_path = folder / "scan.pdf"
    scan.output(str(scan_path))
    writer = PdfWriter()
    writer.add_page(PdfReader(scan_path).pages[0])
    writer.add_page(PdfReader(CONTRACT).pages[TEXT - 1])
    inputs = folder / "in"
    inputs.mkdir()
    with open(inputs / "mixed.pdf", "wb") as handle:
        writer.write(handle)
    assert not _text(inputs / "mixed.pdf", 1).strip() and _text(inputs / "mixed.pdf", 2).strip()
    return inputs / "mixed.pdf"


def _cli(args: list[str], env: dict[str, str] | None = None, hide: str | None = None,
         tmp: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m pipeline ARGS` in a new process; `hide`: a package made unimportable there (via a
    sitecustomize that sets sys.modules[hide] = None, so find_spec says it is not installed)."""
    paths = [str(REPO), os.environ.get("PYTHONPATH", "")]
    if hide:
        assert tmp is not None
        site = tmp / "hide"
        site.mkdir(exist_ok=True)
        (site / "sitecustomize.py").write_text(f"import sys\nsys.modules[{hide!r}] = None\n")
        paths.insert(0, str(site))
    full = {**os.environ, **(env or {})}
    full["PYTHONPATH"] = os.pathsep.join([*([env["PYTHONPATH"]] if env and "PYTHONPATH" in env else []), *paths])
    return subprocess.run([sys.executable, "-m", "pipeline", *args], env=full, capture_output=True, text=True,
                          timeout=900)


def test_unusable_text_layers():
    assert unusable(Page(page_number=1, page_label="1", text=" \n", status="empty"), None) == "no text"
    garbled = Page(page_number=1, page_label="1", text="Agreement " + "\ufffd" * 5)
    assert unusable(garbled, None) == "replacement characters"
    header = Page(page_number=1, page_label="1", text="Source: ACME CORP, 10-K, 3/1/2020")
    assert unusable(header, 0.06) == TOO_LITTLE  # a stamped header over a page of ink: a scan
    assert unusable(header, MIN_INK / 2) is None  # the same header on a blank page is all there is
    assert unusable(header, None) is None  # ink unknown: decided on the text alone
    dense = Page(page_number=1, page_label="1", text="The parties agree as follows. " * 40)
    assert unusable(dense, 0.06) is None
    assert unusable(Page(page_number=1, page_label="1", status="failed", error="x"), 0.2) is None


@needs_ocr
@pytest.mark.slow
def test_image_only_page_is_read_offline_and_cited(mixed_pdf, tmp_path):
    attempts = tmp_path / "attempts.log"
    out = tmp_path / "out"
    guard = {"DOCPIPE_NETGUARD_LOG": str(attempts), "PYTHONPATH": str(REPO / "tests" / "netguard")}
    done = _cli(["run", str(mixed_pdf.parent), "-o", str(out), "--engine", "extractive", "--ocr", "auto",
                 "--ocr-images", "--jobs", "1"], env=guard)
    assert done.returncode == 0, done.stderr
    assert not attempts.exists(), attempts.read_text()  # nothing fetched: the models are in the wheel
    folder = next(p for p in out.iterdir() if (p / "result.json").exists())
    pages = json.loads((folder / "pages.json").read_text())["pages"]
    scanned, text = pages
    assert (scanned["source"], scanned["status"], text["source"]) == ("ocr", "ok", "text")
    assert scanned["page_label"] == "1" and scanned["ocr_confidence"] > 0.9 and not scanned["low_confidence"]
    original = _norm(_text(CONTRACT, SCANNED))
    assert Levenshtein.distance(original, _norm(scanned["text"])) / len(original) < 0.05
    result = json.loads((folder / "result.json").read_text())
    assert result["status"] == "ok"
    cites = [p["citation"] for p in result["summary"]] + [c["citation"] for c in result["clauses"]]
    assert any(c["page_number"] == 1 and c["status"] == "verified" for c in cites)
    # A quote taken from the original text layer is found on the OCR page by the checker.
    quote = "a corporation incorporated in the U.S. Virgin Islands"
    assert quote in original
    index = PageIndex([Page.model_validate(p) for p in pages])
    citation = index.locate(quote, 1)
    assert (citation.status, citation.page_number) == ("verified", 1)
    assert (folder / scanned["image"]).read_bytes().startswith(b"\x89PNG")
    report = (folder / "report.html").read_text()
    assert "Pages read by OCR" in report and f'src="{scanned["image"]}"' in report
    again = _cli(["run", str(mixed_pdf.parent), "-o", str(out), "--engine", "extractive", "--ocr", "auto",
                  "--ocr-images", "--jobs", "1"])
    assert again.returncode == 0, again.stderr
    assert json.loads((out / "run_report.json").read_text())["documents"][0]["cached"]  # OCR'd text reused


@needs_ocr
@pytest.mark.slow
def test_reader_process_ocr_always_rereads_text_pages(mixed_pdf):
    with DocumentReader(RunConfig(ocr="always", jobs=1)) as reader:
        document = reader.read(mixed_pdf)
    assert [p.source for p in document.pages] == ["ocr", "ocr"]
    original = _norm(_text(CONTRACT, TEXT))
    assert Levenshtein.distance(original, _norm(document.pages[1].text)) / len(original) < 0.05


def test_ocr_never_keeps_todays_behaviour(mixed_pdf, tmp_path):
    out = tmp_path / "out"
    done = _cli(["run", str(mixed_pdf.parent), "-o", str(out), "--engine", "extractive", "--ocr", "never"])
    assert done.returncode == 5, done.stderr  # issue 18: the page left without text makes it partial (exit 5)
    result = json.loads(next(out.glob("*/result.json")).read_text())
    assert [(p["page_number"], p["status"], p["source"]) for p in result["pages_flagged"]] == [(1, "empty", "text")]
    assert "need OCR" not in done.stderr
    def config_key(config, checklist):
        return result_key(key_parts(config, checklist))

    assert config_key(RunConfig(ocr="never"), []) == config_key(RunConfig(ocr="never", ocr_dpi=200), [])
    if ocr_installed():  # auto with the extra: OCR may change the text, so the key is another
        assert config_key(RunConfig(ocr="auto"), []) != config_key(RunConfig(ocr="never"), [])
        assert config_key(RunConfig(ocr="auto"), []) != config_key(RunConfig(ocr="auto", ocr_dpi=200), [])


def test_without_the_extra_always_is_a_usage_error_and_auto_names_the_pages(mixed_pdf, tmp_path):
    out = tmp_path / "out"
    refused = _cli(["run", str(mixed_pdf.parent), "-o", str(out), "--ocr", "always"], hide="rapidocr", tmp=tmp_path)
    assert refused.returncode == 2, refused.stderr
    assert "rapidocr==3.10.0" in refused.stderr and not out.exists()  # refused before any work
    done = _cli(["run", str(mixed_pdf.parent), "-o", str(out), "--engine", "extractive"], hide="rapidocr", tmp=tmp_path)
    assert done.returncode == 5, done.stderr  # issue 18: partial, the page without text is named
    assert re.search(r"1 page\(s\) have no usable text layer and need OCR: 1 \(no text\)", done.stderr), done.stderr
    assert done.stderr.count("docpipe's ocr extra") == 1  # the install hint, once
    result = json.loads(next(out.glob("*/result.json")).read_text())
    assert [p["page_number"] for p in result["pages_flagged"]] == [1]


def test_failed_ocr_pages_make_the_document_partial_and_are_named():
    from pipeline.engines.extractive import ExtractiveEngine
    from pipeline.plan.routes import plan_document
    from pipeline.plan.tokens import load_tokenizer, tokenizer_dir

    body = "The Distributor shall pay all invoices within thirty days of receipt. " * 5
    pages = (Page(page_number=1, page_label="i", text=body, source="text"),
             Page(page_number=2, page_label="ii", status="failed", source="ocr", error="OCR failed: ValueError: x"),
             Page(page_number=3, page_label="iii", text="Signed by both parties.", source="ocr", ocr_confidence=0.5,
                  low_confidence=True))
    document = Document(doc_id="d" * 16, source=Source(path="x.pdf", sha256="d" * 64, page_count=3, size_bytes=1),
                        pages=pages)
    config, engine = RunConfig(tasks=("summary",)), ExtractiveEngine()
    plan = plan_document(document, config, load_tokenizer(tokenizer_dir(None)), [])
    result = assemble(plan, engine.generate(plan.requests), EngineInfo(name="extractive"), [])
    assert result.status == "partial" and result.summary  # the engine's work stands; the reading was partial
    assert [(e.stage, e.kind) for e in result.errors] == [("ingest", "ocr_failed")]
    assert "page(s) 2 of 3" in result.errors[0].message
    assert [p.page_number for p in result.pages_flagged] == [2, 3]  # failed, and low confidence


def test_import_pipeline_loads_no_ocr_runtime():
    code = ("import sys, pipeline, pipeline.cli, pipeline.run.core, pipeline.run.reader, pipeline.store.key;"
            "heavy = [m for m in ('onnxruntime', 'rapidocr', 'cv2') if m in sys.modules]; assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(REPO)})


def test_options_travel_to_the_reader():
    assert OcrOptions.of(RunConfig(ocr="never")) is None
    options = OcrOptions.of(RunConfig(ocr="auto", ocr_dpi=200, ocr_images=True, ocr_page_timeout=7))
    assert options is not None and (options.mode, options.dpi, options.images, options.page_timeout) == (
        "auto", 200, True, 7)
    assert options.installed == (importlib.util.find_spec("rapidocr") is not None)


def test_page_time_limit_raises_in_the_body_and_leaves_no_timer():
    import signal
    import time

    from pipeline.ingest.ocr import PageTimeout, page_time_limit

    before = signal.getsignal(signal.SIGPROF)
    start = time.process_time()
    with pytest.raises(PageTimeout, match="0.05 CPU seconds"), page_time_limit(0.05):
        while time.process_time() - start < 5:  # CPU time, as the limit counts it
            pass
    assert time.process_time() - start < 1
    assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0) and signal.getsignal(signal.SIGPROF) is before
    with page_time_limit(0):  # no limit: nothing armed
        assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)


@needs_ocr
@pytest.mark.slow
def test_a_page_over_the_ocr_page_timeout_fails_alone(mixed_pdf, tmp_path):
    # In the reader process: the scanned page fails with the limit as its cause, the text page is read, and the
    # same process reads on (the timer is disarmed: a second document is not cut short by a stale signal).
    config = RunConfig(ocr="auto", jobs=1, ocr_page_timeout=0.01)
    with DocumentReader(config) as reader:
        document = reader.read(mixed_pdf)
        again = reader.read(mixed_pdf)
    scanned, text = document.pages
    assert (scanned.status, scanned.source, text.status, text.source) == ("failed", "ocr", "ok", "text")
    assert scanned.error is not None and "PageTimeout" in scanned.error and "--ocr-page-timeout" in scanned.error
    assert [(p.status, p.error) for p in again.pages] == [(p.status, p.error) for p in document.pages]
    # Through the CLI: the document is partial (exit 5) with the page named; the run finishes.
    out = tmp_path / "out"
    done = _cli(["run", str(mixed_pdf.parent), "-o", str(out), "--engine", "extractive", "--ocr-page-timeout",
                 "0.01", "--jobs", "1"])
    assert done.returncode == 5, done.stderr
    result = json.loads(next(out.glob("*/result.json")).read_text())
    assert result["status"] == "partial"
    assert [(e["kind"], "page(s) 1 of 2" in e["message"]) for e in result["errors"]] == [("ocr_failed", True)]
    assert [(p["page_number"], p["status"]) for p in result["pages_flagged"]] == [(1, "failed")]
    def key(**fields: object) -> str:
        return result_key(key_parts(RunConfig(**fields), []))  # type: ignore[arg-type]

    assert key(ocr="auto") != key(ocr="auto", ocr_page_timeout=5)  # a page may fail under one limit, not another
    assert key(ocr="never") == key(ocr="never", ocr_page_timeout=5)  # no OCR: the limit shapes nothing


def _quad(left: float, right: float, middle_at_left: float, angle_degrees: float, height: float = 36.0) -> list:
    """A text box from x=left to x=right whose middle line starts at y=middle_at_left, sloping down by the
    angle (image coordinates: y grows downwards), as rapidocr gives them: top-left, top-right, bottom-right,
    bottom-left."""
    import math

    slope = math.tan(math.radians(angle_degrees))
    y_left, y_right = middle_at_left, middle_at_left + slope * (right - left)
    return [[left, y_left - height / 2], [right, y_right - height / 2], [right, y_right + height / 2],
            [left, y_left + height / 2]]


def test_lines_of_a_skewed_page_are_not_interleaved():
    from pipeline.ingest.layout import lines, skew

    # A page scanned 1 degree askew at 300 dpi: two lines 45 pixels apart, each read as a short box (a section
    # number) and a long one. The long box of line 1 reaches lower than line 2's short box: by plain height,
    # line 2's number would join line 1's text and the lines interleave.
    angle, pitch, boxes = 1.0, 45.0, []
    for number in (1, 2):
        start = 1000 + (number - 1) * pitch
        boxes.append((_quad(100, 400, start, angle), f"L{number}a", 0.9))
        boxes.append((_quad(1300, 2500, start + 1200 * 0.017455, angle), f"L{number}b", 0.9))
    read = [[text for _, text, _ in line] for line in lines(boxes)]
    assert read == [["L1a", "L1b"], ["L2a", "L2b"]]
    assert abs(skew([b[0] for b in boxes]) - 0.017453) < 1e-4
    straight = [(_quad(100, 1200, 1000, 0), "a", 0.9), (_quad(1300, 2500, 1000, 0), "b", 0.9),
                (_quad(100, 400, 1045, 0), "c", 0.9)]
    assert [[t for _, t, _ in line] for line in lines(straight)] == [["a", "b"], ["c"]]
    assert skew([_quad(0, 30, 0, 0, height=30)]) == 0.0  # no box clearly wider than tall: no skew measured
