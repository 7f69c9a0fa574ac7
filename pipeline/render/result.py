"""Stage render: results → files in the output folder.

Contract: `OUT/<doc-id>/result.json` (the DocResult), `OUT/<doc-id>/summary.md`, `OUT/<doc-id>/pages.json`
(the ingested Document: every page's extracted text, which citation offsets point into; read back by the
review report), `OUT/run_report.json`. Every file is written atomically (temporary file in the same folder,
fsync, rename, fsync of the folder), so a reader or a crash never sees half a file; temporary files a killed
run left behind are removed by `remove_stray_temp_files` (the runner calls it under the output lock). A
document's folder is named by its `doc_id` (content hash) alone — never by the input's file name — and
nothing is written outside OUT. Markdown shows control characters from documents and file names as visible
symbols, so `cat summary.md` cannot drive a terminal.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.models import DocResult, Document, RunReport
from pipeline.render.items import engine_label, is_model_free
from pipeline.sanitize import printable
from pipeline.secrets import redact

if TYPE_CHECKING:
    import jinja2

SAFE_DOC_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,63}")  # hex digest, or `path-<hex>` for unreadable files


def write_atomic(path: Path, text: str | bytes) -> None:
    """Replace `path` with `text` (or bytes: a page image) in one step, known secrets redacted from text (the
    last-line check: whatever a document or a server slipped past the data model's `Redacted` fields never
    reaches the disk)."""
    if isinstance(text, str):
        text = redact(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; results are meant to be shared like any file
        with os.fdopen(fd, "wb") as handle:
            handle.write(text if isinstance(text, bytes) else text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the folder's entry is on disk (else a power cut can lose the file
    # that the run store already says is done).
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stray_temp_files(output: Path) -> list[Path]:
    """Delete the temporary files of `write_atomic` that a killed run left in `output`; returns them."""
    stray = [*output.glob(".*.tmp"), *output.glob("*/.*.tmp")]
    for path in stray:
        path.unlink(missing_ok=True)
    return stray


PAGES_FILE = "pages.json"


@functools.cache
def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@functools.cache
def _templates() -> jinja2.Environment:
    import jinja2  # here, not at module level: a run with nothing to do never renders

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pipeline", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # Markdown; HTML reports use an autoescaping environment
        finalize=lambda value: printable(value) if isinstance(value, str) else value,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["md_value"] = _md_value
    return env


def _md_value(value: object) -> str:
    """A typed value in a Markdown table cell: lists joined by '; ', pipes escaped."""
    text = "; ".join(map(str, value)) if isinstance(value, list) else "" if value is None else str(value)
    return text.replace("\n", " ").replace("|", "\\|")


def doc_dir(output: Path, doc_id: str) -> Path:
    """`OUT/<doc_id>`; a doc_id that is not a plain name (no separators, no dots) is refused."""
    if not SAFE_DOC_ID.fullmatch(doc_id):
        raise ValueError(f"refusing to write a result folder named {doc_id!r}")
    return output / doc_id


def write_result(output: Path, result: DocResult, document: Document | None = None) -> Path:
    """Write a document's result.json and summary.md, and its pages.json when `document` is given;
    returns its folder."""
    folder = doc_dir(output, result.doc_id)
    if document is not None:
        write_atomic(folder / PAGES_FILE, document.model_dump_json() + "\n")
        for page in document.pages:  # OCR page images (--ocr-images), named by the page's `image`
            if page.image and page.image_png:
                write_atomic(folder / page.image, page.image_png)
    write_atomic(folder / "result.json", result.model_dump_json(indent=2) + "\n")
    title = printable(Path(result.source.path).stem, newlines=False) if result.source else result.doc_id
    markdown = _templates().get_template("summary.md.j2").render(result=result, title=title,
                                                                 engine=engine_label(result.engine),
                                                                 model_free=is_model_free(result.engine))
    write_atomic(folder / "summary.md", markdown)
    return folder


def write_run_report(output: Path, report: RunReport) -> Path:
    path = output / "run_report.json"
    write_atomic(path, report.model_dump_json(indent=2) + "\n")
    return path
