"""The batch core against a real local model server that misbehaves for some documents (tests/fake_server.py):
a lone-surrogate escape, an invalid escape, one bad item among good ones, an HTTP 500. Run as a user runs it
(`python -m pipeline run`, a real process): every document gets a result, good items are kept, the cause of
each problem is in its result.json, no traceback, exit code 1 (some documents partial or failed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.models import DocResult, RunReport
from tests.conftest import filler, write_pdf
from tests.fake_server import MODEL, FakeServer

CHECKLIST = "name,description\nGoverning Law,which law governs\n"
SCRIPT = {"Alpha": ["surrogate"], "Bravo": ["bad-escape"], "Charlie": ["bad-item"], "Delta": [500], "Echo": ["ok"]}


@pytest.mark.parametrize("assemble_jobs", ["0", "2"])  # parse + cite in this process, or in worker processes
def test_malformed_replies_cost_only_their_items_or_documents(tmp_path: Path, assemble_jobs: str) -> None:
    folder = tmp_path / "in"
    for marker in SCRIPT:
        write_pdf(folder / f"{marker}.pdf", [f"{marker} agreement. " + filler(60, marker), filler(40, "p2")])
    (tmp_path / "checklist.csv").write_text(CHECKLIST)
    out = tmp_path / "out"
    with FakeServer(SCRIPT) as server:
        done = subprocess.run(
            [sys.executable, "-m", "pipeline", "run", str(folder), "-o", str(out), "--engine", "server",
             "--base-url", server.url, "--model", MODEL, "--checklist", str(tmp_path / "checklist.csv"),
             "--max-retries", "0"],
            capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": os.getcwd(), "DOCPIPE_ASSEMBLE_JOBS": assemble_jobs},
        )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    report = RunReport.model_validate_json((out / "run_report.json").read_text("utf-8"))
    assert report.totals["documents"] == len(SCRIPT) and report.totals["pending"] == 0
    found = {Path(r.source.path).stem: r for r in
             (DocResult.model_validate_json(p.read_text("utf-8")) for p in out.glob("*/result.json")) if r.source}
    assert sorted(found) == sorted(SCRIPT)

    alpha = found["Alpha"]  # the surrogate is made valid Unicode, both points kept, the file is UTF-8
    assert alpha.status == "ok" and [p.text for p in alpha.summary] == ["about Alpha", "odd \ufffd text"]
    assert "\\udaba" not in (out / alpha.doc_id / "result.json").read_text("utf-8")

    bravo = found["Bravo"]  # an invalid escape: its summary reply is lost, its clauses are not
    assert bravo.status == "partial" and bravo.summary == ()
    assert [(e.stage, e.kind) for e in bravo.errors] == [("parse", "invalid_reply")]
    assert "Invalid \\escape" in bravo.errors[0].message

    charlie = found["Charlie"]  # the bad item is dropped with its reason, the good one kept
    assert charlie.status == "partial" and [p.text for p in charlie.summary] == ["about Charlie"]
    assert [(e.stage, e.kind) for e in charlie.errors] == [("parse", "invalid_item")]
    assert "item 2 left out" in charlie.errors[0].message

    delta = found["Delta"]  # every request answered HTTP 500
    assert delta.status == "failed" and all("HTTP 500" in e.message for e in delta.errors)

    assert found["Echo"].status == "ok" and found["Echo"].errors == ()
    assert json.loads((out / "run_report.json").read_text("utf-8"))["totals"]["failed"] == 1


def test_a_result_holding_invalid_unicode_is_repaired_before_it_is_written(tmp_path: Path) -> None:
    """The last guard: whatever text reaches a result (a model's reasoning, an error quoting a reply) is
    written as valid UTF-8, lone surrogates replaced by U+FFFD."""
    from pipeline.models import DocError, EngineInfo, Source
    from pipeline.run.batch import Outcome
    from pipeline.run.core import write_sound

    source = Source(path="x.pdf", sha256="a" * 64, page_count=1, size_bytes=1)
    result = DocResult(doc_id="a" * 16, status="partial", source=source, route=None, engine=EngineInfo(name="server"),
                       errors=(DocError(stage="parse", kind="invalid_reply", message="bad \udaba reply"),),
                       reasoning={"x:summary": "thought \ud800 about it"})
    written = write_sound(tmp_path, result, Outcome(path=tmp_path / "x.pdf"))
    text = (tmp_path / result.doc_id / "result.json").read_text("utf-8")
    assert written.errors[0].message == "bad \ufffd reply" and written.reasoning["x:summary"] == "thought \ufffd about it"
    assert DocResult.model_validate_json(text) == written
