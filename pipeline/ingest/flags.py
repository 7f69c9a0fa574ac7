"""Pages that failed or had no text make a document `partial`: its result covers less than the file.

Contract: `flag_pages(result)` returns `result` unchanged unless it is `ok` and some page is flagged (in
`pages_flagged`: extraction failed, or no text); then the result is `partial`, with one `ingest` error
(kind `PagesFlagged`) naming those pages. The error belongs to the content, so the store keeps it as final
(the same bytes give the same pages); a changed file or `--retry-failed` reads it again.
"""

from __future__ import annotations

from pipeline.models import DocError, DocResult, Page

SHOWN = 10  # pages named in the message; the rest are counted


def flag_pages(result: DocResult) -> DocResult:
    """The result, `partial` when it is `ok` but some page failed or had no text (see the module docstring)."""
    if result.status != "ok" or not result.pages_flagged:
        return result
    error = DocError(stage="ingest", kind="PagesFlagged", message=describe(result.pages_flagged))
    return result.model_copy(update={"status": "partial", "errors": (*result.errors, error)})


def describe(pages: tuple[Page, ...]) -> str:
    failed = [p for p in pages if p.status == "failed"]
    empty = [p for p in pages if p.status != "failed"]
    parts = [f"{len(group)} {what}: {_numbers(group)}" for group, what in
             ((failed, "page(s) whose text extraction failed"), (empty, "page(s) without text (scanned or blank)"))
             if group]
    return "; ".join(parts) + "; the result covers the other pages only"


def _numbers(pages: list[Page]) -> str:
    shown = ", ".join(str(p.page_number) for p in pages[:SHOWN])
    return shown + (f" and {len(pages) - SHOWN} more" if len(pages) > SHOWN else "")
