"""Stage ingest: PDF file → `Document` (text per page, physical number and printed label kept).

Contract: `ingest(path)` returns a Document whose pages are in physical order, one per page of the file,
even when a page's extraction fails or yields no text (that page is flagged, its slot kept). Anything
that makes the whole file unusable raises `InputError` with a cause a person can act on.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from pipeline.errors import EncryptedError, InputError
from pipeline.models import Document, Page, Source

if TYPE_CHECKING:
    from pypdf import PdfReader

# pypdf is imported where it is used: a run whose documents are all unchanged never needs it, and
# importing it is a third of such a run's start-up time.

log = logging.getLogger(__name__)

DOC_ID_LENGTH = 16  # hex digits of the sha256: 64 bits, collision-free for any real archive
TAIL_BYTES = 32 * 1024  # where %%EOF must be: pypdf tolerates some trailing junk, so do we
BOMB = "pypdf's safety limit reached (a decompression bomb?)"


def find_pdfs(inputs: Iterable[Path]) -> list[Path]:
    """Files named on the command line, plus `*.pdf` found recursively in folders; sorted, no repeats.

    Inside folders, symlinked folders are not followed (no loops, no escaping the folder), and a symlink
    named `*.pdf` is listed only when its target lies inside the same input folder — or cannot be
    resolved (a loop, a dangling link), so that `ingest` reports why. A link to a file elsewhere is
    skipped with a warning: whoever can drop links into an inbox must not make docpipe read other files.
    """
    found: dict[Path, None] = {}
    for item in inputs:
        if item.is_dir():
            for path in sorted(_walk(item, item.resolve())):
                found.setdefault(path, None)
        else:
            found.setdefault(item, None)
    return list(found)


def _walk(folder: Path, root: Path) -> Iterator[Path]:
    for path in folder.iterdir():
        if path.is_symlink() and path.suffix.lower() == ".pdf":
            if _inside_or_broken(path, root):
                yield path
            else:
                log.warning("skipping %s: a symlink to a file outside %s", display_path(path), display_path(root))
        elif path.is_symlink():
            log.info("not following symlinked folder %s", display_path(path))
        elif path.is_dir():
            yield from _walk(path, root)
        elif path.suffix.lower() == ".pdf":
            yield path


def _inside_or_broken(link: Path, root: Path) -> bool:
    try:
        return link.resolve(strict=True).is_relative_to(root)
    except (OSError, RuntimeError):  # a loop (RuntimeError before Python 3.13) or a dangling link
        return True


def display_path(path: Path) -> str:
    """The path as text that JSON and SQLite accept: bytes that are not UTF-8 become `\\xNN` escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in chunks (large files are never held whole)."""
    with path.open("rb") as handle:
        return _digest(handle)


def _digest(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: handle.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


def ingest(path: Path, password: str | None = None, sha256: str | None = None) -> Document:
    """Read one PDF into a Document. Raises `InputError` when the file cannot be used at all.

    `sha256`, when the caller has already hashed the file, saves reading it twice. The file is read
    through one open handle, page by page: it is never held whole in memory.
    """
    size = _regular_file_size(path)
    try:
        with path.open("rb") as handle:
            _check_bytes(handle, size)
            sha = sha256 or _digest(handle)
            reader = _open(handle, password)
            pages = tuple(_read_pages(reader))
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}") from exc
    _check_text(pages)
    source = Source(path=display_path(path), sha256=sha, page_count=len(pages), size_bytes=size)
    return Document(doc_id=sha[:DOC_ID_LENGTH], source=source, pages=pages)


def _regular_file_size(path: Path) -> int:
    """The file's size, after checking it is a regular file (a FIFO would block the read forever)."""
    try:
        info = path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError("symlink loop: too many levels of symbolic links") from exc
        if exc.errno == errno.ENOENT and path.is_symlink():
            raise InputError(f"dangling symlink: its target {os.readlink(path)!r} does not exist") from exc
        raise InputError(f"cannot read file: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a FIFO" if stat.S_ISFIFO(info.st_mode) else "special"
        raise InputError(f"not a regular file ({kind}): cannot be read as a PDF")
    if info.st_size == 0:
        raise InputError("empty file (0 bytes)")
    return info.st_size


def _check_bytes(handle: BinaryIO, size: int) -> None:
    """A PDF header near the start and an end-of-file marker near the end (else: cut off or not a PDF)."""
    head = handle.read(1024)
    if b"%PDF-" not in head:
        raise InputError(f"not a PDF: the file starts with {head[:16]!r}")
    handle.seek(max(0, size - TAIL_BYTES))
    if b"%%EOF" not in handle.read():
        raise InputError(
            f"truncated PDF: no %%EOF marker in its last {TAIL_BYTES // 1024} KiB (cut off, or still being copied?)"
        )
    handle.seek(0)


def _check_text(pages: tuple[Page, ...]) -> None:
    if not pages:
        raise InputError("the PDF has zero pages")
    if any(page.status == "ok" for page in pages):
        return
    failed = [page for page in pages if page.status == "failed"]
    if failed:
        where = f"all {len(pages)} pages" if len(failed) == len(pages) else \
            f"{len(failed)} of its {len(pages)} pages (the others have no text)"
        raise InputError(f"text extraction failed on {where}: page {failed[0].page_number}: {failed[0].error}")
    raise InputError(f"no text layer on any of its {len(pages)} pages (a scan?); docpipe does not do OCR")


def _open(handle: BinaryIO, password: str | None) -> PdfReader:
    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError, PyPdfError

    try:
        reader = PdfReader(handle)
        if reader.is_encrypted:
            _decrypt(reader, password)
        reader.pages  # noqa: B018  (forces the page tree to load: broken trees fail here)
        return reader
    except InputError:
        raise
    except LimitReachedError as exc:
        raise InputError(f"{BOMB}: {exc}") from exc
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, RecursionError) as exc:
        raise InputError(f"corrupt or unreadable PDF: {type(exc).__name__}: {exc}") from exc


def _decrypt(reader: PdfReader, password: str | None) -> None:
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    # Many "encrypted" PDFs only restrict printing/copying and open with the empty password.
    for candidate in ("", password) if password else ("",):
        try:
            if reader.decrypt(candidate):
                return
        except (FileNotDecryptedError, PdfReadError, NotImplementedError) as exc:
            raise EncryptedError(f"encrypted PDF cannot be decrypted: {exc}") from exc
    if password:
        raise EncryptedError("encrypted PDF: the password given (--password) is wrong")
    raise EncryptedError("encrypted PDF: needs a password (use --password)")


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
    from pypdf.errors import LimitReachedError

    prefix = f"{BOMB}: " if isinstance(exc, LimitReachedError) else ""
    return f"{prefix}{type(exc).__name__}: {exc}"[:500]
