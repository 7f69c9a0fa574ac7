"""One folder holding every kind of bad input beside good documents, run through the CLI: the good ones
are done, each bad one fails alone with its cause, the run goes on and exits 1."""

import json
import os
from pathlib import Path

import pytest
from fpdf import FPDF
from PIL import Image
from pypdf import PdfWriter
from typer.testing import CliRunner

from pipeline.cli import app
from tests.conftest import encrypt_pdf, write_contracts, write_pdf
from tests.hostile_pdfs import bomb, raw_pdf

NON_UTF8 = os.fsdecode(b"contract-\xff-latin1.pdf")  # a name that is not valid UTF-8
LONG = "a-very-long-name-" + "x" * 230 + ".pdf"  # 251 bytes: near the 255-byte limit of a file name


def scan_pdf(path: Path) -> Path:
    """Two pages that are only pictures (like a scan): no text layer."""
    pdf = FPDF()
    for shade in (200, 120):
        pdf.add_page()
        pdf.image(Image.new("RGB", (300, 400), (shade, shade, shade)), x=10, y=10, w=180)
    pdf.output(str(path))
    return path


def bad_folder(root: Path) -> tuple[Path, dict[str, str]]:
    """The folder, and for each bad file the words its cause must contain."""
    folder = root / "in"
    good = write_contracts(folder, 2)
    write_pdf(folder / "with  spaces and (parens).pdf", ["A contract named with spaces. Governed by Ohio law."])
    write_pdf(folder / "Vertrag-Übersicht-合同.pdf", ["A contract with a non-ASCII name, governed by Texas law."])
    write_pdf(folder / LONG, ["A contract with a very long file name, governed by Utah law."])
    write_pdf(folder / NON_UTF8, ["A contract whose name is not UTF-8, governed by Iowa law."])
    locked = encrypt_pdf(good[0], folder / "encrypted.pdf", "the-password")
    truncated = folder / "truncated.pdf"
    truncated.write_bytes(good[1].read_bytes()[: good[1].stat().st_size // 2])
    (folder / "corrupt.pdf").write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n")
    with (folder / "zero-pages.pdf").open("wb") as handle:
        PdfWriter().write(handle)
    scan_pdf(folder / "scan.pdf")
    (folder / "really-a-png.pdf").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    (folder / "empty.pdf").write_bytes(b"")
    os.mkfifo(folder / "fifo.pdf")
    raw_pdf(folder / "bomb.pdf", [bomb(80 << 20)])  # 80 MiB of spaces in ~80 kB: over pypdf's 75 MB
    (folder / "loop.pdf").symlink_to("loop.pdf")
    (folder / "dangling.pdf").symlink_to("nowhere.pdf")
    causes = {
        locked.name: "needs a password", "truncated.pdf": "truncated", "corrupt.pdf": "corrupt",
        "zero-pages.pdf": "zero pages", "scan.pdf": "no text layer", "really-a-png.pdf": "not a PDF",
        "empty.pdf": "empty file", "bomb.pdf": "decompression bomb",
    }  # fifo.pdf: skipped with a warning; loop.pdf and dangling.pdf: symlinks, skipped (no --follow-symlinks)
    if os.geteuid() != 0:  # root reads a chmod-000 file anyway: the FIFO stands for "unreadable" there
        unreadable = write_pdf(folder / "unreadable.pdf", ["Nobody may read this."])
        unreadable.chmod(0)
        causes["unreadable.pdf"] = "Permission denied"
    return folder, causes


@pytest.mark.slow
def test_every_bad_input_fails_alone_with_its_cause(tmp_path):
    folder, causes = bad_folder(tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(folder), "-o", str(out), "--tasks", "clauses"])
    assert result.exit_code == 1, result.output
    report = json.loads((out / "run_report.json").read_text())
    rows = {Path(r["path"]).name: r for r in report["documents"]}
    ok = {name for name, row in rows.items() if row["status"] == "ok"}
    odd_names = {"with  spaces and (parens).pdf", "Vertrag-Übersicht-合同.pdf", LONG, "contract-\\xff-latin1.pdf"}
    assert ok == {"contract-00.pdf", "contract-01.pdf"} | odd_names
    for name, words in causes.items():
        assert rows[name]["status"] == "failed", name
        message = rows[name]["errors"][0]["message"]
        assert words in message, (name, message)
        assert (out / rows[name]["doc_id"] / "result.json").is_file()
        assert name.split(".")[0] in result.output  # each failure is also said on stderr
    assert len(rows) == len(ok) + len(causes)  # the symlinks were skipped, the FIFO too (without hanging)
    assert "fifo.pdf: not a regular file" in result.output
    # A rerun redoes only the failures that may pass next time (the password), and fails the same way.
    again = CliRunner().invoke(app, ["run", str(folder), "-o", str(out), "--tasks", "clauses"])
    assert again.exit_code == 1
    totals = json.loads((out / "run_report.json").read_text())["totals"]
    retried = {"encrypted.pdf", "unreadable.pdf"} & set(causes)
    assert totals["processed"] == len(retried)
