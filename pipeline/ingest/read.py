"""Stage ingest: PDF file → `Document` (text per page, physical number and printed label kept).

Contract: `ingest(path)` returns a Document whose pages are in physical order, one per page of the file,
even when a page's extraction fails or yields no text (that page is flagged, its slot kept). Anything
that makes the whole file unusable raises `InputError` with a cause a person can act on — and so does a
PDF over its `Limits` (pages, characters per page, pypdf's decompression limits, which stay on, and the
total its streams decode to, `pipeline.ingest.budget`). Only
regular files are read: a FIFO or a device named `x.pdf` is refused without blocking. The file is read
through one open handle (never held whole in memory) and hashed once: a caller that has hashed it already
passes `sha256`. A file without `%%EOF` near its end is reported as truncated.

Two backends read the pages: pypdf (the default) and pypdfium2 (`backend="pypdfium2"`, several times faster;
the optional extra `docpipe[pdfium]`, see `pipeline.ingest.pdfium`). Everything above is common to both, and
so are the page model, the limits on pages and characters per page and the encryption errors; pypdf's
decompression limits are pypdf's alone.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import importlib.util
import logging
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TypeVar

from pipeline.config import MAX_DECOMPRESSED_MB, MAX_DOCUMENT_MB, MAX_PAGE_CHARS, MAX_PAGES, PdfBackend, RunConfig
from pipeline.errors import ConfigError, EncryptedError, InputError
from pipeline.ingest.budget import MB, decode_budget
from pipeline.install import install_hint
from pipeline.models import Document, Page, Source
from pipeline.sanitize import path_text, valid_unicode

if TYPE_CHECKING:
    from pypdf import PdfReader

    from pipeline.ingest.ocr import OcrOptions

# pypdf is imported where it is used: a run whose documents are all unchanged never needs it, and
# importing it is a third of such a run's start-up time.

log = logging.getLogger(__name__)
T = TypeVar("T")

DOC_ID_LENGTH = 16  # hex digits of the sha256: 64 bits, collision-free for any real archive
TAIL_BYTES = 32 * 1024  # where %%EOF must be: pypdf tolerates some trailing junk, so do we
# pypdf's limits on what one stream may expand to; all of them are set to `Limits.max_decompressed_mb`.
_DECOMPRESSION_LIMITS = (
    "zlib_maximum_output_length", "lzw_maximum_output_length", "run_length_maximum_output_length",
    "jbig2_maximum_output_length", "brotli_maximum_output_length", "array_based_stream_maximum_output_length",
)


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one untrusted PDF may cost (see `RunConfig`); a breach fails the document with InputError."""

    max_pages: int = MAX_PAGES
    max_page_chars: int = MAX_PAGE_CHARS
    max_decompressed_mb: int = MAX_DECOMPRESSED_MB
    max_document_mb: int = MAX_DOCUMENT_MB

    @classmethod
    def of(cls, config: RunConfig) -> Limits:
        return cls(config.max_pages, config.max_page_chars, config.max_decompressed_mb, config.max_document_mb)

    def pypdf(self) -> AbstractContextManager[object]:
        """pypdf's configuration with these decompression limits, for the current context only."""
        import pypdf

        known = {field.name for field in dataclasses.fields(pypdf.Configuration)}
        size = self.max_decompressed_mb * 1_000_000
        return pypdf.apply_configuration(**{name: size for name in _DECOMPRESSION_LIMITS if name in known})


def find_pdfs(inputs: Iterable[Path], follow_symlinks: bool = False) -> list[Path]:
    """Files named on the command line, plus `*.pdf` regular files found recursively in folders; sorted,
    no repeats.

    Symlinks inside folders are skipped unless `follow_symlinks`; then they are followed wherever they
    lead, each real folder and file is visited once (a link loop ends), and broken links are skipped.
    """
    found: dict[Path, None] = {}
    for item in inputs:
        if item.is_dir():
            for path in _walk(item, follow_symlinks):
                found.setdefault(path, None)
        else:
            found.setdefault(item, None)
    return list(found)


def _walk(top: Path, follow: bool) -> list[Path]:
    # Iterative, so a very deep tree cannot exhaust the recursion limit.
    seen_folders: set[tuple[int, int]] = set()
    files: dict[Path, tuple[int, int]] = {}
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            info = folder.stat()
            entries = sorted(folder.iterdir())
        except OSError as exc:
            log.warning("cannot list folder %s: %s", folder, exc.strerror or exc)
            continue
        if (info.st_dev, info.st_ino) in seen_folders:
            log.info("skipping %s: folder already visited (a symlink loop?)", folder)
            continue
        seen_folders.add((info.st_dev, info.st_ino))
        for path in entries:
            if path.is_symlink() and not follow:
                log.info("skipping symlink %s (use --follow-symlinks to follow)", path)
                continue
            try:
                mode = path.stat()
            except OSError as exc:
                log.info("skipping %s: %s", path, exc.strerror or exc)
                continue
            if stat.S_ISDIR(mode.st_mode):
                stack.append(path)
            elif path.suffix.lower() == ".pdf" and stat.S_ISREG(mode.st_mode):
                files[path] = (mode.st_dev, mode.st_ino)
            elif path.suffix.lower() == ".pdf":
                log.warning("skipping %s: not a regular file", path)
    seen_files: set[tuple[int, int]] = set()
    unique = []
    for path in sorted(files):  # one path per real file: a file reached through links is read once
        if files[path] not in seen_files:
            seen_files.add(files[path])
            unique.append(path)
    return unique


def open_regular(path: Path) -> BinaryIO:
    """Open a regular file for reading; anything else (FIFO, device, socket, folder) raises OSError.
    The open does not block, so a FIFO named like a PDF cannot hang the run."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else \
            "a socket" if stat.S_ISSOCK(mode) else "a device or other special file"
        raise OSError(errno.EINVAL, f"not a regular file ({kind}): cannot be read as a PDF")
    return os.fdopen(fd, "rb")


def file_sha256(path: Path) -> str:
    """sha256 of a regular file, read in chunks (large files are never held whole)."""
    with open_regular(path) as handle:
        return _digest(handle)


def _digest(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: handle.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


def require_backend(backend: PdfBackend) -> None:
    """Raise ConfigError (exit code 2) when `backend` is not installed; cheap: imports nothing."""
    if backend == "pypdfium2" and importlib.util.find_spec("pypdfium2") is None:
        raise ConfigError("--pdf-backend pypdfium2 needs pypdfium2, which is not installed: " + install_hint("pdfium"))


def ingest(
    path: Path, password: str | None = None, limits: Limits = Limits(), sha256: str | None = None,  # noqa: B008
    backend: PdfBackend = "pypdf", ocr: OcrOptions | None = None,
) -> Document:
    """Read one PDF into a Document. Raises `InputError` when the file cannot be used at all, `ConfigError`
    when `backend` is not installed.

    `sha256`, when the caller has already hashed the file, saves reading it twice. `ocr` (None: `--ocr never`)
    replaces pages without a usable text layer by their OCR text (`pipeline.ingest.ocr.apply_ocr`).
    """
    try:
        with _open_input(path) as handle:
            size = os.fstat(handle.fileno()).st_size
            if size == 0:
                raise InputError("empty file (0 bytes)")
            _check_bytes(handle, size)
            sha = sha256 or _digest(handle)
            handle.seek(0)
            pages = _pages(handle, password, limits, backend)
            if ocr is not None:
                from pipeline.ingest.ocr import apply_ocr

                pages = apply_ocr(handle, password, pages, ocr, limits, path_text(path))
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}") from exc
    _check_text(pages, ocr)
    source = Source(path=path_text(path), sha256=sha, page_count=len(pages), size_bytes=size)
    return Document(doc_id=sha[:DOC_ID_LENGTH], source=source, pages=pages)


def _pages(handle: BinaryIO, password: str | None, limits: Limits, backend: PdfBackend) -> tuple[Page, ...]:
    if backend == "pypdfium2":
        require_backend(backend)
        from pipeline.ingest.pdfium import read_pages

        return tuple(read_pages(handle, password, limits))
    if backend != "pypdf":
        raise ValueError(f"unknown PDF backend {backend!r}")
    with limits.pypdf(), decode_budget(limits.max_document_mb * MB) as budget:
        reader = _open(handle, password)
        return tuple(_read_pages(reader, limits, budget.check))


def _open_input(path: Path) -> BinaryIO:
    """`open_regular`, with symlink loops and dangling links named as such."""
    try:
        return open_regular(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError("symlink loop: too many levels of symbolic links") from exc
        if exc.errno == errno.ENOENT and path.is_symlink():
            raise InputError(f"dangling symlink: its target {os.readlink(path)!r} does not exist") from exc
        raise InputError(f"cannot read file: {exc.strerror or exc}") from exc


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


def _check_text(pages: tuple[Page, ...], ocr: OcrOptions | None = None) -> None:
    if not pages:
        raise InputError("the PDF has zero pages")
    if any(page.status == "ok" for page in pages):
        return
    failed = [page for page in pages if page.status == "failed"]
    if failed:
        where = f"all {len(pages)} pages" if len(failed) == len(pages) else \
            f"{len(failed)} of its {len(pages)} pages (the others have no text)"
        raise InputError(f"text extraction failed on {where}: page {failed[0].page_number}: {failed[0].error}")
    if ocr is None:
        how = "OCR is off (--ocr never)"
    elif not ocr.installed:
        how = "OCR reads such pages once its extra is installed: " + install_hint("ocr")
    else:
        how = "OCR recognised no text on them either"
    raise InputError(f"no text layer on any of its {len(pages)} pages (a scan?); {how}")


def _open(stream: BinaryIO, password: str | None) -> PdfReader:
    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError, PyPdfError

    try:
        reader = PdfReader(stream)
        if reader.is_encrypted:
            _decrypt(reader, password)
        reader.pages  # noqa: B018  (forces the page tree to load: broken trees fail here)
        return reader
    except InputError:
        raise
    except LimitReachedError as exc:
        raise InputError(f"the PDF is over pypdf's safety limits (a decompression bomb?): {exc}") from exc
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, RecursionError) as exc:
        raise InputError(f"corrupt or unreadable PDF: {type(exc).__name__}: {exc}") from exc


def _decrypt(reader: PdfReader, password: str | None) -> None:
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    try:
        try_passwords(password, lambda candidate: True if reader.decrypt(candidate) else None)
    except (FileNotDecryptedError, PdfReadError, NotImplementedError) as exc:
        raise EncryptedError(f"encrypted PDF cannot be decrypted: {exc}") from exc


def try_passwords(password: str | None, attempt: Callable[[str], T | None]) -> T:
    """`attempt(candidate)` with the empty password, then with `password` (when given), until one returns
    non-None (None: that password is wrong); else EncryptedError saying whether a password is missing or
    wrong. Both backends open encrypted PDFs this way, with the same messages."""
    # Many "encrypted" PDFs only restrict printing/copying and open with the empty password.
    for candidate in ("", password) if password else ("",):
        opened = attempt(candidate)
        if opened is not None:
            return opened
    if password:
        raise EncryptedError("encrypted PDF: the password given (--password) is wrong")
    raise EncryptedError("encrypted PDF: needs a password (use --password)")


def _read_pages(reader: PdfReader, limits: Limits, check_budget: Callable[[], None]) -> Iterator[Page]:
    from pypdf.errors import LimitReachedError

    check_page_count(len(reader.pages), limits)
    labels = _labels(reader)
    for index, pdf_page in enumerate(reader.pages):
        number = index + 1
        label = labels[index] if index < len(labels) else str(number)
        try:
            text = pdf_page.extract_text() or ""
        except LimitReachedError as exc:
            raise InputError(
                f"page {number} is over pypdf's safety limits ({exc}): a decompression bomb? "
                f"The limit on what one stream may expand to is {limits.max_decompressed_mb} MB (--max-decompressed-mb)"
            ) from exc
        except InputError:  # over the document's decode budget: the whole document fails
            raise
        except Exception as exc:  # noqa: BLE001 — one bad page must not lose the document
            check_budget()  # a breach pypdf caught and turned into another error is still a breach
            yield failed_page(number, label, exc)
            continue
        check_budget()
        yield text_page(number, label, text, limits)


# The page model both backends share: what a page's text (or its failure) becomes, and the limits on it.

def check_page_count(count: int, limits: Limits) -> None:
    if count > limits.max_pages:
        raise InputError(f"{count:,} pages, over the limit of {limits.max_pages:,} pages per document (--max-pages)")


def text_page(number: int, label: str, text: str, limits: Limits) -> Page:
    """The Page of extracted `text`: `ok`, or `empty` when it is only whitespace; InputError over
    `max_page_chars`."""
    text = valid_unicode(text)
    if len(text) > limits.max_page_chars:
        raise InputError(f"page {number} has {len(text):,} characters of text, over the limit of "
                         f"{limits.max_page_chars:,} per page (--max-page-chars)")
    status = "ok" if text.strip() else "empty"
    return Page(page_number=number, page_label=label, text=text, status=status)


def failed_page(number: int, label: str, exc: BaseException) -> Page:
    """The Page whose extraction raised `exc`: it keeps its slot, flagged `failed` with the cause."""
    log.warning("page %d: text extraction failed: %s", number, exc)
    return Page(page_number=number, page_label=label, status="failed", error=_describe(exc))


def _labels(reader: PdfReader) -> list[str]:
    try:
        return [valid_unicode(label) for label in reader.page_labels]
    except Exception as exc:  # noqa: BLE001 — a broken label tree only costs the labels
        log.info("page labels unreadable (%s); using page numbers", exc)
        return []


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]
