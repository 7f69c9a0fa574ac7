"""Issue 18: pages that failed or had no text make a document `partial` — in result.json, run_report.json,
`docpipe status`, the exports and the exit code (5) — and, being the content's, it is not redone."""

import json
import shutil

from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import ExitCode
from tests.conftest import SAMPLES, write_pdf
from tests.exports_check import assert_truthful

CONTRACT = SAMPLES / "cybergy-affiliate-agreement.pdf"


def docpipe(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_an_empty_page_makes_the_document_partial_everywhere(tmp_path):
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    shutil.copyfile(CONTRACT, inbox / "contract.pdf")
    scanned = write_pdf(inbox / "with-scan.pdf", [
        "This Agreement shall be governed by the laws of the State of Delaware.", "",
        "The term of this Agreement is 3 years from the Effective Date."])
    result = docpipe("run", inbox, "-o", out)
    assert result.exit_code == ExitCode.PARTIAL == 5, result.output
    assert "1 ok, 1 partial, 0 failed" in result.stdout
    report = json.loads((out / "run_report.json").read_text())
    partial = next(d for d in report["documents"] if d["path"] == str(scanned))
    assert partial["status"] == "partial" and report["totals"]["partial"] == 1
    assert partial["errors"][0]["kind"] == "PagesFlagged" and "without text (scanned or blank): 2" in \
        partial["errors"][0]["message"]
    doc = json.loads((out / partial["doc_id"] / "result.json").read_text())
    assert doc["status"] == "partial" and doc["clauses"] and doc["result_key"]
    status = json.loads(docpipe("status", out, "--json").stdout)["documents"]
    assert [d["path"] for d in status["partial"]] == [str(scanned)] and "PagesFlagged" in status["partial"][0]["cause"]
    assert "partial:" in docpipe("status", out).stdout
    rows = assert_truthful(out, [inbox / "contract.pdf", scanned])
    assert {r["source"]["path"]: r["status"] for r in rows}[str(scanned)] == "partial"
    again = docpipe("run", inbox, "-o", out)  # the same bytes give the same pages: not redone, still partial
    assert again.exit_code == 5 and "0 processed" in again.stdout
