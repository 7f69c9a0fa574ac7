"""The review report and exports: written by every run, rebuilt by `docpipe report`, document text escaped."""

from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.config import RunConfig
from scripted_engine import ScriptedEngine
from pipeline.render.exports import CLAUSE_COLUMNS
from pipeline.models import Citation, Clause, DocResult, EngineInfo
from pipeline.render.review_view import doc_view, matrix_categories, utf16_offset
from pipeline.run.core import run
from tests.conftest import filler, write_pdf

GOVERNING = "This Agreement shall be governed by the laws of the State of Delaware."
PAYMENT = "The Distributor shall pay all invoices within thirty days of receipt."
INVENTED = "The Supplier may charge any price it likes."
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(2)>'


def write_checklist(path: Path, names: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "description"])
        writer.writerows([name, "test category"] for name in names)
    return path


def reviewed_contract(tmp_path: Path) -> tuple[Path, str]:
    """A five-page contract run through the whole pipeline with a scripted model whose citations are
    verified (p. 3), relocated (claimed p. 2, found on p. 4) and unverified; returns (output, doc id)."""
    pages = [filler(80, str(i)) for i in range(5)]
    pages[2] = filler(40, "a") + " " + GOVERNING + " " + filler(40, "b")
    pages[3] = filler(30, "c") + " " + PAYMENT + " " + filler(30, "d")
    pdf = write_pdf(tmp_path / "in" / "contract.pdf", pages)
    engine = ScriptedEngine({
        "summary": {"points": [
            {"point": "Delaware law governs.", "quote": GOVERNING, "page_number": 3},
            {"point": "Invoices are due within thirty days.", "quote": PAYMENT, "page_number": 2},
            {"point": "The supplier sets prices freely.", "quote": INVENTED, "page_number": 5},
        ]},
        "clauses": {"clauses": [{"category": "Governing Law", "quote": GOVERNING, "page_number": 3}]},
    })
    checklist = write_checklist(tmp_path / "checklist.csv", ["Governing Law", "Anti-Assignment"])
    output = tmp_path / "out"
    report = run([pdf], output, RunConfig(checklist=checklist), engine=engine)
    return output, report.documents[0].doc_id


def hostile_contract(tmp_path: Path) -> Path:
    """A contract whose text, file name, model reply and checklist all carry HTML; returns the output."""
    text = f"Terms {SCRIPT} and {IMG} end. " + GOVERNING
    pdf = write_pdf(tmp_path / "in" / f"inj{IMG}.pdf", [text])
    category = "<b onmouseover=alert(3)>Evil</b>"
    engine = ScriptedEngine({
        "summary": {"points": [{"point": f"{SCRIPT} point {IMG}", "quote": f"Terms {SCRIPT}", "page_number": 1},
                               {"point": "made up", "quote": f"{IMG} never said", "page_number": 1}]},
        "clauses": {"clauses": [{"category": category, "quote": f"and {IMG} end", "page_number": 1}]},
    })
    checklist = write_checklist(tmp_path / "checklist.csv", [category, f"Absent {SCRIPT}"])
    output = tmp_path / "out"
    run([pdf], output, RunConfig(checklist=checklist), engine=engine)
    return output


class _Tags(HTMLParser):
    """Every start tag with its attributes, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def _tags(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def test_every_run_writes_the_review_report_and_exports(tmp_path):
    output, doc_id = reviewed_contract(tmp_path)
    index = (output / "index.html").read_text()
    report = (output / doc_id / "report.html").read_text()
    assert f'href="{doc_id}/report.html"' in index and "contract" in index
    assert 'class="cell found"' in index and 'class="cell absent"' in index
    assert "http://" not in index + report and "https://" not in index + report  # nothing to fetch
    chips = {attrs.get("data-status") for tag, a in _tags(report) if (attrs := dict(a)).get("data-key")}
    assert chips == {"verified", "relocated", "unverified"}
    assert 'class="chip unverified"' in report and "1 unverified citation" in report
    pages = json.loads((output / doc_id / "pages.json").read_text())
    assert [p["page_number"] for p in pages["pages"]] == [1, 2, 3, 4, 5]

    raw = (output / "clauses.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the UTF-8 BOM Excel needs to read the file as UTF-8
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert tuple(rows[0]) == CLAUSE_COLUMNS
    assert [(r["doc_id"], r["category"], r["page_number"], r["status"], r["conflict"]) for r in rows] == [
        (doc_id, "Governing Law", "3", "verified", "false")]
    assert rows[0]["quote"] == GOVERNING and rows[0]["file"].endswith("contract.pdf")
    lines = (output / "results.jsonl").read_text().splitlines()
    assert [DocResult.model_validate_json(line).doc_id for line in lines] == [doc_id]


def test_report_command_rebuilds_from_stored_results_without_a_model(tmp_path, monkeypatch):
    output, doc_id = reviewed_contract(tmp_path)
    built = {p: p.read_bytes() for p in [output / "index.html", output / "fields.html", output / doc_id / "report.html",
                                          output / "clauses.csv", output / "results.jsonl"]}
    for path in [*built, output / "results.xlsx"]:
        path.unlink()

    def no_engine(*_: object) -> None:
        raise AssertionError("docpipe report must not create an engine")

    monkeypatch.setattr("pipeline.engines.base.create_engine", no_engine)
    result = CliRunner().invoke(app, ["report", str(output)])
    assert result.exit_code == 0, result.output
    assert {p: p.read_bytes() for p in built} == built  # the same files, rebuilt from result.json + pages.json
    assert (output / "results.xlsx").stat().st_size > 0 and "results.xlsx" in result.output


def test_report_command_needs_results(tmp_path):
    assert CliRunner().invoke(app, ["report", str(tmp_path / "missing")]).exit_code == 2
    assert CliRunner().invoke(app, ["report", str(tmp_path)]).exit_code == 2


def test_unreadable_result_is_reported_not_fatal(tmp_path):
    output, doc_id = reviewed_contract(tmp_path)
    (output / "broken").mkdir()
    (output / "broken" / "result.json").write_text("{not json")
    assert CliRunner().invoke(app, ["report", str(output)]).exit_code == 0  # no input of the store's: not shown
    assert "broken" not in (output / "index.html").read_text()
    (output / ".docpipe.sqlite").unlink()  # a folder without a run store: every result folder is shown
    (output / doc_id / "pages.json").unlink()  # an older run's results: no page texts
    result = CliRunner().invoke(app, ["report", str(output)])
    assert result.exit_code == 1
    assert "broken/result.json" in (output / "index.html").read_text()
    report = (output / doc_id / "report.html").read_text()
    assert '<script type="application/json" id="page-data">null</script>' in report


@pytest.mark.parametrize("name", ["report", "index"])
def test_html_in_a_document_comes_out_escaped(tmp_path, name):
    output = hostile_contract(tmp_path)
    (folder,) = [p for p in output.iterdir() if p.is_dir()]
    html = (folder / "report.html" if name == "report" else output / "index.html").read_text()
    for raw in (SCRIPT, "<img", "<b onmouseover"):
        assert raw not in html
    tags = _tags(html)
    assert not [t for t, _ in tags if t in ("img", "iframe", "object")]
    assert not [(t, k) for t, attrs in tags for k, _ in attrs if k.startswith("on")]
    assert len([t for t, _ in tags if t == "script"]) == (2 if name == "report" else 1)  # ours only
    if name == "report":
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # summary point and quotes, as text
        assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in html  # page text, HTML-safe JSON
        assert "&lt;b onmouseover=alert(3)&gt;Evil&lt;/b&gt;" in html  # category
    else:
        assert "inj&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in html  # file name
        assert "Absent &lt;script&gt;alert(1)&lt;/script&gt;" in html  # matrix header


def _result(clauses: tuple[Clause, ...], absent: tuple[str, ...] = ()) -> DocResult:
    return DocResult(doc_id="d", status="ok", source=None, route=None, engine=EngineInfo(name="t"),
                     clauses=clauses, absent=absent)


def _citation(quote: str, page: int | None = 1, start: int | None = None, status: str = "verified") -> Citation:
    return Citation(quote=quote, page_number=page, page_label=str(page), claimed_page_number=page,
                    status=status, match="exact", score=100.0, char_start=start,  # type: ignore[arg-type]
                    char_end=None if start is None else start + len(quote))


def test_matrix_cells_found_conflict_absent_unchecked():
    result = _result((Clause(category="Governing Law", citation=_citation("a")),
                      Clause(category="Governing Law", citation=_citation("b")),
                      Clause(category="Mine", citation=_citation("c"), conflict=True)), absent=("Non-Compete",))
    other = _result((), absent=("Other",))
    categories = matrix_categories([result, other])
    assert categories == ("Governing Law", "Non-Compete", "Mine", "Other")  # CUAD's order, then as first seen
    cells = {c.category: (c.state, c.count, c.key) for c in doc_view(result, None, categories).cells}
    assert cells == {"Governing Law": ("found", 2, "c1"), "Non-Compete": ("absent", 0, None),
                     "Mine": ("conflict", 1, "c3"), "Other": ("unchecked", 0, None)}


def test_offsets_are_converted_to_javascript_string_units():
    from pipeline.models import Page

    text = "Fee 💶 due. Pay now."  # the euro-banknote emoji is one Python character, two UTF-16 units
    start = text.index("Pay now.")
    assert utf16_offset(text, start) == start + 1
    cite = _citation("Pay now.", 1, start)
    view = doc_view(_result((Clause(category="X", citation=cite),)), [Page(page_number=1, page_label="1", text=text)],
                    ("X",))
    units = text.encode("utf-16-le")
    clause = view.clauses[0].cite
    assert clause.start is not None and clause.end is not None
    assert units[2 * clause.start : 2 * clause.end].decode("utf-16-le") == "Pay now."
    unverified = doc_view(_result((Clause(category="X", citation=_citation("zz", 1, 0, "unverified")),)),
                          [Page(page_number=1, page_label="1", text=text)], ("X",))
    assert unverified.clauses[0].cite.start is None  # nothing to highlight


def test_clauses_csv_quotes_commas_newlines_and_quotes():
    from pipeline.render.exports import clauses_csv

    quote = 'Pay "promptly",\nor else'
    text = clauses_csv([_result((Clause(category="Fees", citation=_citation(quote, None)),))])
    assert text.startswith("\ufeff")
    (row,) = list(csv.DictReader(io.StringIO(text[1:], newline="")))
    assert row["quote"] == quote and row["page_number"] == "" and row["conflict"] == "false"


def test_chip_label_names_the_printed_label_and_the_physical_page():
    from pipeline.render.review import chip_label

    assert chip_label(_citation("q", 4)) == "p. 4"
    assert chip_label(_citation("q", 3).model_copy(update={"page_label": "iii"})) == "p. iii (3)"
    assert chip_label(_citation("q", None)) == "no page"


def test_pages_read_by_ocr_are_marked_and_an_absent_source_field_is_tolerated():
    from pydantic import ConfigDict

    from pipeline.models import Page
    from pipeline.render.review import _render

    class OcrPage(Page):  # the shape ingest gives pages once it records OCR (`source`); Page may lack the field
        model_config = ConfigDict(frozen=True, extra="forbid")
        source: str = "text"

    text = "Pay now. Then later."
    result = _result((Clause(category="Fees", citation=_citation("Pay now.", 2, 0)),
                      Clause(category="Term", citation=_citation("Pay now.", 1, 0))))
    pages = [Page(page_number=1, page_label="1", text=text), OcrPage(page_number=2, page_label="2", text=text,
                                                                     source="ocr")]
    view = doc_view(result, pages, ("Fees", "Term"))
    assert [c.cite.ocr for c in view.clauses] == [True, False] and view.ocr_pages == (2,)
    assert [p["ocr"] for p in view.pages or []] == [False, True]
    html = _render("report.html.j2", doc=view)
    assert "1 page read by OCR" in html and html.count("· OCR</button>") == 1


def test_model_free_results_say_so_wherever_they_appear(tmp_path):
    pdf = write_pdf(tmp_path / "in" / "c.pdf", [GOVERNING + " " + filler(40)])
    checklist = write_checklist(tmp_path / "checklist.csv", ["Governing Law"])
    output = tmp_path / "out"
    report = run([pdf], output, RunConfig(engine="extractive", checklist=checklist))
    doc = output / report.documents[0].doc_id
    for path in (output / "index.html", output / "fields.html", doc / "report.html", doc / "summary.md"):
        assert "model-free baseline" in path.read_text("utf-8").lower(), path.name
    scripted, _ = reviewed_contract(tmp_path / "scripted")  # a model's results carry no such label
    assert "model-free baseline" not in (scripted / "index.html").read_text("utf-8").lower()
