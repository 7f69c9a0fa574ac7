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

from pipeline.models import DocResult, RunReport
from tests.conftest import filler, write_pdf
from tests.fake_server import MODEL, FakeServer

CHECKLIST = "name,description\nGoverning Law,which law governs\n"
SCRIPT = {"Alpha": ["surrogate"], "Bravo": ["bad-escape"], "Charlie": ["bad-item"], "Delta": [500], "Echo": ["ok"]}


def test_malformed_replies_cost_only_their_items_or_documents(tmp_path: Path) -> None:
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
            capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": os.getcwd()},
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
