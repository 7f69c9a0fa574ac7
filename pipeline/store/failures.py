"""When the output folder itself fails: disk full, read-only, a deleted lock file.

Contract: `output_error(output, exc)` turns an exception raised while writing into `output` (an OSError
with ENOSPC, EDQUOT, EFBIG or EROFS, or SQLite's "database or disk is full", "readonly database" or
"disk I/O error": the store lives in the output folder) into an
`OutputError` with a message a person can act on, or returns None when `exc` is something else.
`output_failures(output)` is a context manager that raises those as OutputError (anything else passes).
`salvage_report(output, report)` writes `run_report.json` for a run that ended that way, when the folder
still takes it, and never raises: the original error is what the caller reports.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from pipeline.errors import OutputError
from pipeline.models import RunReport

log = logging.getLogger(__name__)

CAUSES = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.EFBIG: "a file grew over the size limit (ulimit -f)",
    errno.EROFS: "the output folder is on a read-only file system",
}
# SQLite's own words; a write refused by a file-size limit (EFBIG) reaches it as a plain I/O error.
SQLITE_CAUSES = {"database or disk is full": CAUSES[errno.ENOSPC], "readonly database": CAUSES[errno.EROFS],
                 "disk I/O error": "the run store could not be written (SQLite: disk I/O error; a full disk or a "
                                   "file size limit?)"}


def output_error(output: Path, exc: BaseException) -> OutputError | None:
    """`exc` as an OutputError when it says the output folder cannot be written (module docstring)."""
    if isinstance(exc, OutputError):
        return exc
    if isinstance(exc, sqlite3.Error):
        cause = next((c for text, c in SQLITE_CAUSES.items() if text in str(exc)), None)
    else:
        cause = CAUSES.get(exc.errno) if isinstance(exc, OSError) and exc.errno is not None else None
    if cause is None:
        return None
    where = f" ({exc.filename})" if isinstance(exc, OSError) and exc.filename else ""
    return OutputError(f"cannot write to the output folder {output}: {cause}{where}. The run stopped; "
                       "documents recorded before stay valid. Free space (or make the folder writable) and run "
                       "again: the rest is done then.")


@contextlib.contextmanager
def output_failures(output: Path) -> Iterator[None]:
    """Raise `output_error(output, exc)` for an OSError or SQLite error that is the output folder's."""
    try:
        yield
    except (OSError, sqlite3.Error) as exc:
        error = output_error(output, exc)
        if error is None:
            raise
        raise error from exc


def salvage_report(output: Path, report: RunReport) -> bool:
    """Write `report` as `run_report.json` if the folder still takes it; whether it did."""
    from pipeline.render.result import write_run_report

    try:
        write_run_report(output, report)
        return True
    except (OSError, ValueError) as exc:
        log.warning("run_report.json not written either: %s", exc)
        return False
