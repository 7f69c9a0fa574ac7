"""The pypdfium2 backend (`--pdf-backend pypdfium2`): the page model of the pypdf backend, on the samples and on
generated PDFs (labels, empty pages, encryption, limits, bad files), through the worker process and the CLI."""

import json
import subprocess
import sys
import tracemalloc
from collections import Counter
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from pypdf import PdfWriter
from rapidfuzz import fuzz
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.config import RunConfig
from pipeline.errors import ConfigError, EncryptedError, InputError
from pipeline.ingest.read import Limits, ingest
from pipeline.run.reader import DocumentReader
from tests.conftest import SAMPLES, encrypt_pdf, filler, with_attachment
from tests.hostile_pdfs import raw_pdf, text_stream, to_unicode
from tests.test_ingest_bad_input import bad_folder

PDFIUM = "pypdfium2"
SAMPLE_PDFS = sorted(SAMPLES.glob("*.pdf"))


def both(path: Path, **kwargs) -> tuple:
    return ingest(path, **kwargs), ingest(path, backend=PDFIUM, **kwargs)


def words(text: str) -> str:
    # pdfium drops the runs of spaces some PDFs lay text out with; citations match on normalised whitespace.
    return " ".join(text.split())


@pytest.mark.parametrize("path", SAMPLE_PDFS, ids=lambda p: p.name)
def test_samples_give_pypdfs_pages_labels_statuses_and_nearly_its_text(path):
    pypdf_doc, doc = both(path)
    assert doc.doc_id == pypdf_doc.doc_id and doc.source == pypdf_doc.source
    assert [(p.page_number, p.page_label, p.status) for p in doc.pages] == \
        [(p.page_number, p.page_label, p.status) for p in pypdf_doc.pages]
    for mine, theirs in zip(doc.pages, pypdf_doc.pages, strict=True):
        assert fuzz.ratio(words(mine.text), words(theirs.text)) >= 95, mine.page_number
        assert "\r" not in mine.text and "\ufffe" not in mine.text


def test_a_hyphen_that_ends_a_line_reads_as_pypdf_reads_it():
    # pdfium marks it U+FFFE and drops the line break; pypdf keeps both, and so must quotes found in the text.
    pypdf_doc, doc = both(SAMPLES / "neon-systems-distributor-agreement.pdf")
    assert "a non-\nexclusive, worldwide right" in pypdf_doc.pages[1].text
    assert "a non-\nexclusive, worldwide right" in doc.pages[1].text


def test_generated_pdf_gives_the_same_pages_as_pypdf(make_pdf):
    pages = ["Cover page text.", "", filler(300), "The Licensee shall pay all fees. " + filler(200, "q")]
    path = make_pdf("labels.pdf", pages, labels=[(0, "r", "", 1), (3, "D", "", 1)])
    pypdf_doc, doc = both(path)
    assert doc == pypdf_doc  # numbers, labels, text, statuses: all of it
    assert [p.page_label for p in doc.pages] == ["i", "ii", "iii", "1"]
    assert doc.pages[1].status == "empty" and "The Licensee shall pay all fees." in doc.pages[3].text


def test_no_page_labels_means_the_page_numbers(tmp_path):
    doc = ingest(raw_pdf(tmp_path / "plain.pdf", [text_stream(["one"]), text_stream(["two"])]), backend=PDFIUM)
    assert [(p.page_number, p.page_label, p.text.strip()) for p in doc.pages] == [(1, "1", "one"), (2, "2", "two")]


def test_encryption_opens_and_fails_as_with_pypdf(make_pdf, tmp_path):
    plain = make_pdf("plain.pdf", ["Secret terms."])
    owner_only = encrypt_pdf(plain, tmp_path / "owner-only.pdf", "")
    assert "Secret terms" in ingest(owner_only, backend=PDFIUM).pages[0].text
    locked = encrypt_pdf(plain, tmp_path / "locked.pdf", "asdfzxcv")
    for password, words_ in ((None, "needs a password"), ("nope", "wrong")):
        with pytest.raises(EncryptedError, match=words_) as pdfium_error:
            ingest(locked, password=password, backend=PDFIUM)
        with pytest.raises(EncryptedError) as pypdf_error:
            ingest(locked, password=password)
        assert str(pdfium_error.value) == str(pypdf_error.value)
    assert "Secret terms" in ingest(locked, password="asdfzxcv", backend=PDFIUM).pages[0].text


def test_a_pdf_without_pages_says_so_even_after_a_locked_one(make_pdf, tmp_path):
    # pdfium keeps its last error across files: a loader that trusted it called this one locked too.
    locked = encrypt_pdf(make_pdf("plain.pdf", ["Secret terms."]), tmp_path / "locked.pdf", "asdfzxcv")
    with pytest.raises(EncryptedError):
        ingest(locked, backend=PDFIUM)
    zero = tmp_path / "zero-pages.pdf"
    with zero.open("wb") as handle:
        PdfWriter().write(handle)
    with pytest.raises(InputError, match="the PDF has zero pages") as error:
        ingest(zero, backend=PDFIUM)
    assert not isinstance(error.value, EncryptedError)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty file"), (b"hello, not a pdf at all", "not a PDF"), (b"%PDF-1.7\n1 0 obj <<", "truncated"),
     (b"%PDF-1.7\n1 0 obj <<\n%%EOF\n", "corrupt or unreadable PDF: pdfium: file not in PDF format or corrupted"),
     (b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n", "corrupt or unreadable PDF: pdfium")],
)
def test_bad_files_raise_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.pdf"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        ingest(path, backend=PDFIUM)


def test_page_and_character_limits_apply(tmp_path):
    few = raw_pdf(tmp_path / "few.pdf", [text_stream(["same page"])], pages=[0] * 4)
    assert len(ingest(few, limits=Limits(max_pages=4), backend=PDFIUM).pages) == 4
    with pytest.raises(InputError, match=r"4 pages, over the limit of 3 .*--max-pages"):
        ingest(few, limits=Limits(max_pages=3), backend=PDFIUM)
    # 250,000 characters in 50 lines: pdfium cuts one string of a content stream at 32,767 bytes
    lines = ["word " * 1_000] * 50
    huge = raw_pdf(tmp_path / "huge.pdf", [text_stream(["fine"]), text_stream(lines)])
    with pytest.raises(InputError, match=r"page 2 has 25\d,\d\d\d characters .* 200,000 per page \(--max-page-chars\)"):
        ingest(huge, backend=PDFIUM)
    assert ingest(huge, limits=Limits(max_page_chars=300_000), backend=PDFIUM).pages[1].text.startswith("word word")


def test_lone_surrogates_become_replacement_characters_as_with_pypdf(tmp_path):
    cmap = to_unicode({0x41: 0xD800, 0x42: 0x41, 0x43: 0xD83D, 0x44: 0xDE00})
    path = raw_pdf(tmp_path / "surrogate.pdf", [b"BT /F1 12 Tf 40 800 Td (ABABCD) Tj ET"], cmap=cmap)
    pypdf_doc, doc = both(path)
    assert doc.pages[0].text.strip() == pypdf_doc.pages[0].text.strip() == "\ufffdA\ufffdA\U0001F600"


def test_a_page_that_fails_keeps_its_slot_and_its_cause(make_pdf, monkeypatch):
    path = make_pdf("three.pdf", ["Page one.", "Page two.", "Page three."])
    original, calls = pdfium.PdfPage.get_textpage, Counter()

    def get_textpage(page):
        calls["n"] += 1
        if calls["n"] == 2:
            raise pdfium.PdfiumError("Failed to load text page.")
        return original(page)

    monkeypatch.setattr(pdfium.PdfPage, "get_textpage", get_textpage)
    doc = ingest(path, backend=PDFIUM)
    assert [(p.page_number, p.status) for p in doc.pages] == [(1, "ok"), (2, "failed"), (3, "ok")]
    assert doc.pages[1].error == "PdfiumError: Failed to load text page." and "Page three" in doc.pages[2].text


def _count_closes(monkeypatch) -> Counter:
    """Explicit closes per pdfium class (a page closed only because its document was closed does not count)."""
    closed: Counter = Counter()
    for cls in (pdfium.PdfDocument, pdfium.PdfPage, pdfium.PdfTextPage):
        def close(self, _by_parent=False, _original=cls.close, _name=cls.__name__):
            if self.raw and not _by_parent:
                closed[_name] += 1
            return _original(self, _by_parent)

        monkeypatch.setattr(cls, "close", close)
    return closed


def test_every_pdfium_object_is_closed_when_done_also_on_errors(tmp_path, monkeypatch):
    closed = _count_closes(monkeypatch)
    pages = raw_pdf(tmp_path / "pages.pdf", [text_stream([f"page {i}"]) for i in range(5)])
    assert len(ingest(pages, backend=PDFIUM).pages) == 5
    assert closed == {"PdfDocument": 1, "PdfPage": 5, "PdfTextPage": 5}
    closed.clear()
    huge = raw_pdf(tmp_path / "huge.pdf", [text_stream(["fine"]), text_stream(["word " * 5_000] * 5)])
    with pytest.raises(InputError, match="--max-page-chars"):
        ingest(huge, limits=Limits(max_page_chars=10_000), backend=PDFIUM)
    assert closed == {"PdfDocument": 1, "PdfPage": 2, "PdfTextPage": 2}


def _peak_rss_growth(call) -> int:
    """Bytes the process's peak resident memory grew by during `call` (Linux: the peak is reset first)."""
    def kib(key: str) -> int:
        lines = Path("/proc/self/status").read_text().splitlines()
        return next(int(line.split()[1]) for line in lines if line.startswith(key))

    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM, the peak
    except OSError:
        pytest.skip("needs Linux's /proc/self/clear_refs")
    before = kib("VmRSS:")
    call()
    return (kib("VmHWM:") - before) * 1024


def test_the_file_is_read_through_its_handle_not_copied(make_pdf, tmp_path):
    """A 16 MiB file whose bulk (an attachment) no page uses: neither Python nor pdfium holds it whole."""
    big = with_attachment(make_pdf("small.pdf", ["Governing law: Delaware."]), tmp_path / "big.pdf", 16 << 20)
    ingest(make_pdf("warm.pdf", ["warm up"]), backend=PDFIUM)  # pdfium's own start-up is not the file
    tracemalloc.start()
    try:
        growth = _peak_rss_growth(lambda: ingest(big, backend=PDFIUM))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, f"Python peak {peak / 2**20:.1f} MiB"
    assert growth < 8 << 20, f"resident peak grew {growth / 2**20:.1f} MiB"


def test_the_reader_passes_the_backend_in_process_and_to_its_worker():
    path = SAMPLES / "neon-systems-distributor-agreement.pdf"
    pypdf_doc, doc = both(path)
    assert doc != pypdf_doc  # this sample's text differs (runs of spaces), so it shows which backend read it
    for timeout in (0, 60):
        for backend, expected in (("pypdf", pypdf_doc), (PDFIUM, doc)):
            with DocumentReader(RunConfig(ingest_timeout=timeout, pdf_backend=backend)) as reader:
                assert reader.read(path) == expected, (timeout, backend)


def test_import_pipeline_does_not_import_pypdfium2():
    code = ("import sys, pipeline, pipeline.cli, pipeline.run.core, pipeline.ingest.read, pipeline.run.reader; "
            "assert 'pypdfium2' not in sys.modules, 'pypdfium2 imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("command", ["run", "plan"])
def test_pypdfium2_not_installed_is_a_config_error(monkeypatch, tmp_path, command):
    monkeypatch.setitem(sys.modules, "pypdfium2", None)  # as if not installed: find_spec finds nothing
    extra = ["-o", str(tmp_path / "out")] if command == "run" else []
    result = CliRunner().invoke(app, [command, str(SAMPLES), *extra, "--pdf-backend", PDFIUM])
    assert result.exit_code == 2, result.output
    assert "pip install 'pypdfium2>=4.30'" in result.output and not (tmp_path / "out").exists()
    with pytest.raises(ConfigError, match=r"pip install 'pypdfium2>=4.30'"):
        DocumentReader(RunConfig(pdf_backend=PDFIUM))
    with pytest.raises(ConfigError, match="not installed"):
        ingest(SAMPLE_PDFS[0], backend=PDFIUM)


def test_an_unknown_backend_is_a_usage_error():
    result = CliRunner().invoke(app, ["plan", str(SAMPLES), "--pdf-backend", "mupdf"])
    assert result.exit_code == 2 and "pdf_backend" in result.output


def test_plan_reads_with_the_backend_asked_for():
    result = CliRunner().invoke(app, ["plan", str(SAMPLES), "--json", "--pdf-backend", PDFIUM])
    assert result.exit_code == 0, result.output
    pages = {Path(row["path"]).name: row["pages"] for row in json.loads(result.output)["documents"]}
    assert pages == {path.name: len(ingest(path).pages) for path in SAMPLE_PDFS}


def test_run_with_pypdfium2_cites_the_samples_and_is_its_own_configuration(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(SAMPLES), "-o", str(out), "--pdf-backend", PDFIUM])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "run_report.json").read_text())
    assert report["totals"]["ok"] == len(SAMPLE_PDFS)
    for row in report["documents"]:
        doc = json.loads((out / row["doc_id"] / "result.json").read_text())
        citations = [p["citation"] for p in doc["summary"]] + [c["citation"] for c in doc["clauses"]]
        found = sum(c["status"] in ("verified", "relocated") for c in citations)
        assert citations and found / len(citations) >= 0.9, row["path"]
        pages = json.loads((out / row["doc_id"] / "pages.json").read_text())
        assert "\r" not in json.dumps(pages)  # pdfium's line breaks were normalised
    again = CliRunner().invoke(app, ["run", str(SAMPLES), "-o", str(out), "--pdf-backend", PDFIUM])
    assert json.loads((out / "run_report.json").read_text())["totals"]["processed"] == 0, again.output
    refused = CliRunner().invoke(app, ["run", str(SAMPLES), "-o", str(out)])  # another configuration: exit 2
    assert refused.exit_code == 2 and "pdf_backend: pypdfium2 → pypdf" in refused.output
    with_pypdf = CliRunner().invoke(app, ["run", str(SAMPLES), "-o", str(out), "--reconfigure"])
    assert json.loads((out / "run_report.json").read_text())["totals"]["processed"] == len(SAMPLE_PDFS), \
        with_pypdf.output  # another backend, another configuration: every document is done again


@pytest.mark.slow
def test_every_bad_input_fails_alone_with_pypdfium2_too(tmp_path):
    folder, causes = bad_folder(tmp_path)
    # pypdf's decompression limits are not pdfium's: the 80 MiB stream of spaces (around "boom") is just read.
    del causes["bomb.pdf"]
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(folder), "-o", str(out), "--tasks", "clauses",
                                      "--pdf-backend", PDFIUM])
    assert result.exit_code == 1, result.output
    rows = {Path(r["path"]).name: r for r in json.loads((out / "run_report.json").read_text())["documents"]}
    for name, words_ in causes.items():
        assert rows[name]["status"] == "failed", name
        assert words_ in rows[name]["errors"][0]["message"], (name, rows[name]["errors"])
    ok = {name for name, row in rows.items() if row["status"] == "ok"}
    assert ok == set(rows) - set(causes) and "contract-00.pdf" in ok and "bomb.pdf" in ok
