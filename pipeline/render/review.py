"""Stage review: stored results → the offline HTML review report and the exports. Runs no model.

Contract: `write_review(output)` reads every `OUT/<doc-id>/result.json` (with its `pages.json`, the page
texts citations point into, when there) and `OUT/run_report.json` (when there), and writes
`OUT/index.html` (every document, and the documents × categories clause matrix), `OUT/fields.html` (one
field — a clause category, or the summary — across all documents, filterable; `review_fields`),
`OUT/<doc-id>/report.html` (summary and clauses, each with a citation that opens its page with the quote
highlighted, and a link to that page of the PDF when the PDF is reachable from the report),
`OUT/clauses.csv`, `OUT/results.jsonl`, per task from a task file `OUT/<task>.csv` (see `exports`) and
`OUT/results.xlsx` (see `xlsx`). Unreadable result files are skipped, logged and returned in
`ReviewFiles.skipped`. Results of a model-free engine are labelled "model-free baseline" wherever they appear.
With `documents` ((input path, doc_id) pairs: the run store's current inputs, see `store.current`) exactly
those are shown, one row per input path (its own path, its content's result); without, every result folder
under `output`.

The HTML is self-contained (inline CSS and JS, no network, works from file://) and rendered by an
autoescaping jinja2 environment: document text reaches a page only as escaped text, or as HTML-safe JSON
(jinja's `tojson`) that the script puts on screen with `textContent`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import jinja2
from markupsafe import Markup
from pydantic import ValidationError

from pipeline import __version__
from pipeline.errors import ConfigError
from pipeline.models import Citation, DocResult, Document, Page, RunReport
from pipeline.render.exports import clauses_csv, results_jsonl, task_csv
from pipeline.render.items import engine_label
from pipeline.render.result import PAGES_FILE, write_atomic
from pipeline.render.review_fields import field_rows
from pipeline.render.review_view import DocView, doc_view, matrix_categories, task_columns
from pipeline.render.xlsx import write_xlsx

log = logging.getLogger(__name__)

REPORT_FILE = "report.html"
FIELDS_FILE = "fields.html"
ASSETS = ("review.css", "review.js")


@dataclass(frozen=True)
class Stored:
    """One document's stored result, with its page texts when `pages.json` was written."""

    result: DocResult
    pages: tuple[Page, ...] | None


@dataclass(frozen=True)
class ReviewFiles:
    """What `write_review` wrote."""

    index: Path
    reports: tuple[Path, ...]
    clauses_csv: Path
    results_jsonl: Path
    fields: Path
    xlsx: Path
    skipped: tuple[str, ...] = ()


def write_review(output: Path, documents: Sequence[tuple[str, str]] | None = None) -> ReviewFiles:
    """Rebuild the review report and exports of the output folder `output`; see the module docstring."""
    if not output.is_dir():
        raise ConfigError(f"not an output folder: {output}")
    stored, skipped = load_stored(output, documents)
    run = _run_report(output)
    categories = matrix_categories([s.result for s in stored])
    views = [doc_view(s.result, s.pages, categories, output / s.result.doc_id) for s in stored]
    reports = tuple({view.doc_id: _write_doc_report(output, view) for view in views}.values())  # duplicates: one
    index = output / "index.html"
    found = [sum(1 for view in views if view.cells[i].count) for i in range(len(categories))]
    write_atomic(index, _render("index.html.j2", docs=views, categories=categories, found=found, run=run,
                                totals=_totals(views), skipped=skipped, task_columns=task_columns(views)))
    fields, rows = field_rows(views, categories)
    write_atomic(output / FIELDS_FILE, _render("fields.html.j2", docs=views, fields=fields, rows=rows, run=run))
    results = [s.result for s in stored]
    csv_path, jsonl_path, xlsx_path = output / "clauses.csv", output / "results.jsonl", output / "results.xlsx"
    write_atomic(csv_path, clauses_csv(results))
    write_atomic(jsonl_path, results_jsonl(results))
    for name in dict.fromkeys(name for r in results for name in r.extractions):
        write_atomic(output / f"{name}.csv", task_csv(name, results))
    write_xlsx(xlsx_path, results, categories)
    return ReviewFiles(index, reports, csv_path, jsonl_path, output / FIELDS_FILE, xlsx_path, tuple(skipped))


def load_stored(
    output: Path, documents: Sequence[tuple[str, str]] | None = None
) -> tuple[list[Stored], list[str]]:
    """The readable results — of `documents` ((path, doc_id): each shown under its own input path), else
    every `*/result.json` under `output` — sorted by file name; and the unreadable ones."""
    stored: list[Stored] = []
    skipped: list[str] = []
    wanted = [(output / doc_id / "result.json", path) for path, doc_id in documents] if documents is not None \
        else [(path, None) for path in sorted(output.glob("*/result.json"))]
    for path, input_path in wanted:
        try:
            result = DocResult.model_validate_json(path.read_bytes())
        except (OSError, ValidationError) as exc:
            log.warning("%s: unreadable result, left out of the report: %s", path, _first_line(exc))
            skipped.append(f"{path.parent.name}/{path.name}")
            continue
        if input_path is not None and result.source is not None:
            result = result.model_copy(update={"source": result.source.model_copy(update={"path": input_path})})
        stored.append(Stored(result, _pages(path.parent / PAGES_FILE, result.doc_id)))
    stored.sort(key=lambda s: (_file_name(s.result).lower(), s.result.doc_id))
    return stored, skipped


def _pages(path: Path, doc_id: str) -> tuple[Page, ...] | None:
    if not path.is_file():
        return None
    try:
        document = Document.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        log.warning("%s: unreadable page texts, citations will not open their page: %s", path, _first_line(exc))
        return None
    if document.doc_id != doc_id:
        log.warning("%s: holds document %s, not %s; ignored", path, document.doc_id, doc_id)
        return None
    return document.pages


def _run_report(output: Path) -> RunReport | None:
    path = output / "run_report.json"
    if not path.is_file():
        return None
    try:
        return RunReport.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        log.warning("%s: unreadable run report: %s", path, _first_line(exc))
        return None


def _write_doc_report(output: Path, view: DocView) -> Path:
    path = output / view.doc_id / REPORT_FILE
    write_atomic(path, _render("report.html.j2", doc=view))
    return path


def _totals(views: list[DocView]) -> dict[str, int]:
    totals: Counter[str] = Counter()
    for view in views:
        totals["documents"] += 1
        totals[view.status] += 1
        totals["pages"] += view.page_count or 0
        totals["prompt_tokens"] += view.prompt_tokens or 0
        totals.update(view.citations)
    return dict(totals)


def _render(template: str, **values: object) -> str:
    return _environment().get_template(f"review/{template}").render(**values)


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pipeline", "templates"),
        autoescape=True,  # every value is escaped unless it is our own Markup
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(assets=_assets(), version=__version__)
    env.filters["thousands"] = lambda n: "–" if n is None else f"{n:,}"
    env.filters["chip_label"] = chip_label
    env.filters["engine_label"] = engine_label
    return env


def _assets() -> dict[str, str]:
    """Our own CSS and JS, inlined verbatim (the report must work offline from file://), and the JS's
    sha256 for the Content-Security-Policy, which then refuses any other script, injected or not."""
    folder = resources.files("pipeline") / "templates" / "review"
    out: dict[str, str] = {}
    for name in ASSETS:
        text = (folder / name).read_text("utf-8")
        if "</" in text:
            raise RuntimeError(f"{name} must not contain '</' (it is inlined in a <style>/<script> element)")
        out[name.split(".")[1]] = Markup(text)  # our own file, checked just above: safe to inline
    digest = base64.b64encode(hashlib.sha256(out["js"].encode("utf-8")).digest()).decode("ascii")
    out["js_hash"] = f"sha256-{digest}"
    return out


def chip_label(citation: Citation) -> str:
    """What a citation chip says: `p. 12`, or `p. iii (3)` when the printed label is not the number."""
    if citation.page_number is None:
        return "no page"
    label = citation.page_label or str(citation.page_number)
    return f"p. {label}" if label == str(citation.page_number) else f"p. {label} ({citation.page_number})"


def _file_name(result: DocResult) -> str:
    return Path(result.source.path).name if result.source else result.doc_id


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
