"""When the output folder itself fails: disk full, read-only, a deleted lock file.

Contract: `output_error(output, exc)` turns an exception raised while writing into `output` (an OSError
with ENOSPC, EDQUOT, EFBIG or EROFS, or SQLite's "database or disk is full" / "readonly database") into an
`OutputError` with a message a person can act on, or returns None when `exc` is something else.
`salvage_report(output, report)` writes `run_report.json` for a run that ended that way, when the folder
still takes it, and never raises: the original error is what the caller reports.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
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
SQLITE_CAUSES = {"database or disk is full": errno.ENOSPC, "readonly database": errno.EROFS}


def output_error(output: Path, exc: BaseException) -> OutputError | None:
    """`exc` as an OutputError when it says the output folder cannot be written (module docstring)."""
    if isinstance(exc, OutputError):
        return exc
    code = exc.errno if isinstance(exc, OSError) else None
    if isinstance(exc, sqlite3.Error):
        code = next((c for text, c in SQLITE_CAUSES.items() if text in str(exc)), None)
    if code not in CAUSES:
        return None
    where = f" ({exc.filename})" if isinstance(exc, OSError) and exc.filename else ""
    return OutputError(f"cannot write to the output folder {output}: {CAUSES[code]}{where}. The run stopped; "
                       "documents recorded before stay valid. Free space (or make the folder writable) and run "
                       "again: the rest is done then.")


def salvage_report(output: Path, report: RunReport) -> bool:
    """Write `report` as `run_report.json` if the folder still takes it; whether it did."""
    from pipeline.render.result import write_run_report

    try:
        write_run_report(output, report)
        return True
    except (OSError, ValueError) as exc:
        log.warning("run_report.json not written either: %s", exc)
        return False
