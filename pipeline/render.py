"""Stage render: results → files in the output folder.

Contract: `OUT/<doc-id>/result.json` (the DocResult), `OUT/<doc-id>/summary.md`, `OUT/run_report.json`.
Every file is written atomically (temporary file in the same folder, fsync, rename, fsync of the folder),
so a reader or a crash never sees half a file; temporary files a killed run left behind are removed by
`remove_stray_temp_files` (the runner calls it under the output lock).
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.models import DocResult, RunReport

if TYPE_CHECKING:
    import jinja2


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
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


@functools.cache
def _templates() -> jinja2.Environment:
    import jinja2  # here, not at module level: a run with nothing to do never renders

    return jinja2.Environment(
        loader=jinja2.PackageLoader("pipeline", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # Markdown; HTML reports use an autoescaping environment
        trim_blocks=True,
        lstrip_blocks=True,
    )


def doc_dir(output: Path, doc_id: str) -> Path:
    return output / doc_id


def write_result(output: Path, result: DocResult) -> Path:
    """Write a document's result.json and summary.md; returns its folder."""
    folder = doc_dir(output, result.doc_id)
    write_atomic(folder / "result.json", result.model_dump_json(indent=2) + "\n")
    title = Path(result.source.path).stem if result.source else result.doc_id
    markdown = _templates().get_template("summary.md.j2").render(result=result, title=title)
    write_atomic(folder / "summary.md", markdown)
    return folder


def write_run_report(output: Path, report: RunReport) -> Path:
    path = output / "run_report.json"
    write_atomic(path, report.model_dump_json(indent=2) + "\n")
    return path
