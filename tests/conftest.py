"""Shared fixtures: real PDFs generated with fpdf2 (text on known pages), and the bundled tokenizer."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

import pytest
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

from pipeline.plan.tokens import Tokenizer, bundled_tokenizer_dir, load_tokenizer

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"

MakePdf = Callable[..., Path]


def write_pdf(path: Path, pages: Sequence[str], labels: Sequence[tuple[int, str, str, int]] = ()) -> Path:
    """A PDF with one page per string (empty string = a page with no text). `labels`: (first page index,
    style 'D'|'r'|'R'|'a'|'A', prefix, start) ranges of printed page labels."""
    pdf = FPDF(format="A4")
    pdf.set_creation_date(datetime(2024, 1, 1, tzinfo=timezone.utc))  # same pages, same bytes
    pdf.set_auto_page_break(False)
    pdf.set_font("Helvetica", size=10)
    starts = {first: (style, prefix, start) for first, style, prefix, start in labels}
    for index, text in enumerate(pages):
        pdf.add_page()
        if index in starts:
            style, prefix, start = starts[index]
            pdf.set_page_label(label_style=style, label_prefix=prefix or None, label_start=start)
        if text:
            pdf.set_xy(10, 10)
            pdf.multi_cell(190, 5, text)
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path


def write_long_pdf(path: Path, pages: Sequence[str], chars_per_line: int = 220) -> Path:
    """Like `write_pdf` for long documents, fast: small print, lines wrapped here rather than by fpdf2's
    multi_cell (far slower on long text); up to about 25,000 characters a page."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_font("Helvetica", size=5)
    for text in pages:
        pdf.add_page()
        for row, line in enumerate(textwrap.wrap(text, chars_per_line, break_on_hyphens=False)):
            pdf.text(8, 8 + 2.5 * row, line)
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path


@pytest.fixture
def make_pdf(tmp_path: Path) -> MakePdf:
    def make(name: str, pages: Sequence[str], labels: Sequence[tuple[int, str, str, int]] = ()) -> Path:
        return write_pdf(tmp_path / name, pages, labels)

    return make


def encrypt_pdf(source: Path, target: Path, user_password: str) -> Path:
    writer = PdfWriter(clone_from=PdfReader(source))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="AES-128")
    with target.open("wb") as handle:
        writer.write(handle)
    return target


def with_attachment(source: Path, target: Path, size: int) -> Path:
    """`source` with `size` random bytes attached, which no page uses: a big file whose bulk ingest need not read."""
    writer = PdfWriter(clone_from=PdfReader(source))
    writer.add_attachment("blob.bin", os.urandom(size))
    with target.open("wb") as handle:
        writer.write(handle)
    return target


@pytest.fixture(scope="session")
def tokenizer() -> Tokenizer:
    return load_tokenizer(bundled_tokenizer_dir())


def filler(words: int, seed: str = "lorem") -> str:
    """Deterministic prose with no clause keywords, for padding pages."""
    vocab = ["river", "garden", "yellow", "window", "morning", "silver", "cloud", "pencil", "orange", "forest"]
    return " ".join(f"{vocab[(i * 7 + len(seed)) % len(vocab)]}" for i in range(words)) + "."


CLAUSES = (
    "This Agreement shall be governed by the laws of the State of {state}.",
    "Neither party may assign this Agreement without the prior written consent of the other party.",
    "The term of this Agreement is {years} years from the Effective Date.",
)
STATES = ("Delaware", "New York", "Texas", "Ohio", "Utah", "Iowa", "Maine", "Idaho", "Nevada", "Oregon")


def write_contracts(folder: Path, count: int, pages: int = 3) -> list[Path]:
    """`count` distinct small contracts `contract-NN.pdf` (existing ones are kept as they are)."""
    paths = []
    for i in range(count):
        path = folder / f"contract-{i:02d}.pdf"
        if not path.exists():
            body = [f"Contract number {i}. " + filler(150, "x" * (i + p)) for p in range(pages)]
            body[i % pages] += " " + " ".join(CLAUSES).format(state=STATES[i % len(STATES)], years=i + 2)
            write_pdf(path, body)
        paths.append(path)
    return paths
