"""Stage ingest: PDF file → `Document` (text per page, physical number and printed label kept).

Contract: `ingest(path)` returns a Document whose pages are in physical order, one per page of the file,
even when a page's extraction fails or yields no text (that page is flagged, its slot kept). Anything
that makes the whole file unusable raises `InputError` with a cause a person can act on.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

from pypdf import PdfReader
from pypdf.errors import FileNotDecryptedError, PdfReadError, PyPdfError

from pipeline.errors import InputError
from pipeline.models import Document, Page, Source

log = logging.getLogger(__name__)

DOC_ID_LENGTH = 16  # hex digits of the sha256: 64 bits, collision-free for any real archive


def find_pdfs(inputs: Iterable[Path]) -> list[Path]:
    """Files named on the command line, plus `*.pdf` found recursively in folders; sorted, no repeats.

    Symlinks inside folders are not followed (a link loop or a link out of the folder is skipped).
    """
    found: dict[Path, None] = {}
    for item in inputs:
        if item.is_dir():
            for path in sorted(_walk(item)):
                found.setdefault(path, None)
        else:
            found.setdefault(item, None)
    return list(found)


def _walk(folder: Path) -> Iterator[Path]:
    for path in folder.iterdir():
        if path.is_symlink():
            log.info("skipping symlink %s", path)
        elif path.is_dir():
            yield from _walk(path)
        elif path.suffix.lower() == ".pdf":
            yield path


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in chunks (large files are never held whole)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ingest(path: Path, password: str | None = None) -> Document:
    """Read one PDF into a Document. Raises `InputError` when the file cannot be used at all."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(1024)
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}") from exc
    if size == 0:
        raise InputError("empty file (0 bytes)")
    if b"%PDF-" not in head:
        raise InputError(f"not a PDF: the file starts with {head[:16]!r}")
    sha = file_sha256(path)
    reader = _open(path, password)
    pages = tuple(_read_pages(reader))
    if not pages:
        raise InputError("the PDF has zero pages")
    if all(page.status != "ok" for page in pages):
        raise InputError(
            f"no text layer on any of its {len(pages)} pages (a scan?); docpipe does not do OCR"
        )
    source = Source(path=str(path), sha256=sha, page_count=len(pages), size_bytes=size)
    return Document(doc_id=sha[:DOC_ID_LENGTH], source=source, pages=pages)


def _open(path: Path, password: str | None) -> PdfReader:
    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            _decrypt(reader, password)
        reader.pages  # noqa: B018  (forces the page tree to load: broken trees fail here)
        return reader
    except InputError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, RecursionError) as exc:
        raise InputError(f"corrupt or unreadable PDF: {type(exc).__name__}: {exc}") from exc


def _decrypt(reader: PdfReader, password: str | None) -> None:
    # Many "encrypted" PDFs only restrict printing/copying and open with the empty password.
    for candidate in ("", password) if password else ("",):
        try:
            if reader.decrypt(candidate):
                return
        except (FileNotDecryptedError, PdfReadError, NotImplementedError) as exc:
            raise InputError(f"encrypted PDF cannot be decrypted: {exc}") from exc
    if password:
        raise InputError("encrypted PDF: the password given (--password) is wrong")
    raise InputError("encrypted PDF: needs a password (use --password)")


def _read_pages(reader: PdfReader) -> Iterator[Page]:
    labels = _labels(reader)
    for index, pdf_page in enumerate(reader.pages):
        number = index + 1
        label = labels[index] if index < len(labels) else str(number)
        try:
            text = pdf_page.extract_text() or ""
        except Exception as exc:  # noqa: BLE001 — one bad page must not lose the document
            log.warning("page %d: text extraction failed: %s", number, exc)
            yield Page(page_number=number, page_label=label, status="failed", error=_describe(exc))
            continue
        status = "ok" if text.strip() else "empty"
        yield Page(page_number=number, page_label=label, text=text, status=status)


def _labels(reader: PdfReader) -> list[str]:
    try:
        return list(reader.page_labels)
    except Exception as exc:  # noqa: BLE001 — a broken label tree only costs the labels
        log.info("page labels unreadable (%s); using page numbers", exc)
        return []


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]
