"""The pypdfium2 backend of stage ingest (`--pdf-backend pypdfium2`, the optional extra `docpipe[pdfium]`).

Contract: `read_pages(handle, password, limits)` yields one `Page` per page of the PDF open in `handle`, the
same model as the pypdf backend (`pipeline.ingest.read` makes the checks common to both, before and after):
- `page_number` is the 1-based physical page; `page_label` the printed label (/PageLabels), else the number.
- Text is pdfium's text page (`get_text_range`) with pdfium's artefacts undone so that quotes and
  citations behave as with pypdf: its line breaks "\\r\\n" become "\\n", and its mark for a hyphen that ended
  a line (U+FFFE, the break itself dropped) becomes "-\\n", pypdf's text for the same place.
- A page whose text cannot be extracted is `failed` with its cause, one with only whitespace `empty`.
- Encrypted PDFs are tried with the empty password, then `password`; `EncryptedError` says which is needed,
  with pypdf's messages. A file pdfium cannot open raises `InputError("corrupt or unreadable PDF: ...")`; one
  without pages yields none (`ingest` then says "zero pages", as with pypdf).
- `limits.max_pages` and `limits.max_page_chars` apply. `limits.max_decompressed_mb` does not: those are
  pypdf's limits; pdfium has its own caps (in its source, e.g. 1 GiB per Flate stream, 32,767 bytes per string
  of a content stream), and the worker process and `--ingest-timeout` still bound one document.
- The file is read through `handle`: pdfium pulls the blocks it needs (seek, readinto), so no copy of the
  whole file is made, by docpipe or by pdfium (which keeps what it has parsed). Every pdfium object (text
  page, page, document) is closed as soon as it is done with, also on errors: memory stays bounded on a
  long document.
- pdfium is not thread-safe: one `read_pages` at a time per process (docpipe reads in a worker process).

Imported only when this backend is chosen: `import pipeline` never loads pypdfium2.
"""

from __future__ import annotations

import ctypes
import os
import re
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import BinaryIO

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from pipeline.errors import EncryptedError, InputError
from pipeline.ingest.read import Limits, check_page_count, failed_page, text_page, try_passwords
from pipeline.models import Page
from pipeline.sanitize import valid_unicode

# pdfium's mark for a hyphen that ended a line, the line break removed (Chromium calls it kPdfiumHyphenEOL);
# should a break follow it after all, that break is the hyphen's.
_HYPHEN_EOL = re.compile("\ufffe\n?")
LOAD_ERRORS = {  # pdfium's FPDF_ERR_* codes, in the words of its fpdfview.h
    pdfium_c.FPDF_ERR_FILE: "file not found or could not be opened",
    pdfium_c.FPDF_ERR_FORMAT: "file not in PDF format or corrupted",
    pdfium_c.FPDF_ERR_PAGE: "page not found or content error",
}


def read_pages(handle: BinaryIO, password: str | None, limits: Limits) -> Iterator[Page]:
    """The pages of the PDF in `handle` (see the module docstring)."""
    with open_pdf(handle, password) as pdf:
        count = len(pdf)
        check_page_count(count, limits)
        for index in range(count):
            number = index + 1
            label = _label(pdf, index) or str(number)
            try:
                with closing(pdf[index]) as page, closing(page.get_textpage()) as textpage:
                    text = textpage.get_text_range(errors="replace")  # a lone surrogate: U+FFFD, as with pypdf
            except Exception as exc:  # noqa: BLE001 — one bad page must not lose the document
                yield failed_page(number, label, exc)
                continue
            yield text_page(number, label, _as_pypdf(text), limits)


@contextmanager
def open_pdf(handle: BinaryIO, password: str | None) -> Iterator[pdfium.PdfDocument]:
    """The PDF in `handle` opened by pdfium (empty password, then `password`), closed on exit; errors as
    `read_pages` raises them. OCR renders pages through this too (`pipeline.ingest.ocr`)."""
    file = _BlockReader(handle)  # pdfium reads through it until the document is closed: it must live as long
    with closing(try_passwords(password, file.open)) as pdf:
        yield pdf


class _BlockReader:
    """`handle` as pdfium's FPDF_FILEACCESS: pdfium asks for blocks (position, size), read with seek/readinto.

    Documents are loaded through pdfium's own API, not `pdfium.PdfDocument(handle)`: that one cannot tell a
    PDF without pages from a failed load, and then reports whatever error pdfium saw last — in a worker that
    has read other files, say, the previous file's missing password.
    """

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.access = pdfium_c.FPDF_FILEACCESS()
        self.access.m_FileLen = handle.seek(0, os.SEEK_END)
        self._callback = type(self.access.m_GetBlock)(self._get_block)  # kept: pdfium calls it until closed
        self.access.m_GetBlock = self._callback
        self.access.m_Param = None

    def _get_block(self, _param: object, position: int, buffer: ctypes._Pointer, size: int) -> int:
        try:
            self.handle.seek(position)
            target = (ctypes.c_ubyte * size).from_address(ctypes.addressof(buffer.contents))
            return int(self.handle.readinto(target) == size)  # 0: pdfium sees a failed read, never garbage
        except Exception:  # noqa: BLE001 — nothing may raise into C; the failed read is pdfium's to report
            return 0

    def open(self, password: str) -> pdfium.PdfDocument | None:
        """The document, or None when `password` is wrong."""
        raw = pdfium_c.FPDF_LoadCustomDocument(ctypes.byref(self.access), password.encode("utf-8"))
        if raw:
            return pdfium.PdfDocument(raw)
        error = pdfium_c.FPDF_GetLastError()  # set by this failed load
        if error == pdfium_c.FPDF_ERR_PASSWORD:
            return None
        if error == pdfium_c.FPDF_ERR_SECURITY:
            raise EncryptedError("encrypted PDF cannot be decrypted: pdfium does not support its security scheme")
        raise InputError(f"corrupt or unreadable PDF: pdfium: {LOAD_ERRORS.get(error, f'error {error}')}")


def _as_pypdf(text: str) -> str:
    """pdfium's line breaks and end-of-line hyphens as pypdf writes them."""
    return _HYPHEN_EOL.sub("-\n", text.replace("\r\n", "\n"))


def _label(pdf: pdfium.PdfDocument, index: int) -> str:
    try:
        return valid_unicode(pdf.get_page_label(index))
    except Exception:  # noqa: BLE001 — a broken label only costs the label (its number stands in)
        return ""
