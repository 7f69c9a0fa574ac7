"""The check every issue-18 test ends with: the exports of an output folder tell the truth about its inputs.

`assert_truthful(out, expected)`: `results.jsonl` has exactly one row per path in `expected` (the inputs
that should have a result); a row that names content (a sha256) names the file's current bytes, its
`pages.json` holds the text a fresh read of the file gives now, and each clause quote is in that text; a row
that names no content is a failure. `clauses.csv` has exactly the clauses of those rows, under the same
doc_id and path, and `index.html` names every listed file.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pipeline.ingest.read import file_sha256, ingest
from pipeline.render.cells import neutralise


def exported(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text("utf-8").splitlines()]


def assert_truthful(out: Path, expected: Iterable[Path]) -> list[dict[str, Any]]:
    rows = exported(out)
    paths = [row["source"]["path"] for row in rows]
    assert sorted(paths) == sorted(str(p) for p in expected), "results.jsonl: not one row per current input"
    for row in rows:
        _check_row(out, row)
    clause_rows = list(csv.DictReader(io.StringIO((out / "clauses.csv").read_text("utf-8-sig"))))
    want = sorted((row["doc_id"], neutralise(row["source"]["path"]), c["category"], neutralise(c["citation"]["quote"]))
                  for row in rows for c in row["clauses"])  # as the CSV writes cells: formula-safe
    got = sorted((r["doc_id"], r["file"], r["category"], r["quote"]) for r in clause_rows)
    assert got == want, "clauses.csv: not exactly the clauses of the current inputs"
    index = (out / "index.html").read_text("utf-8")
    assert all(Path(p).name in index for p in paths)
    return rows


def _check_row(out: Path, row: dict[str, Any]) -> None:
    source, path = row["source"], Path(row["source"]["path"])
    if not source["sha256"]:
        assert row["status"] == "failed", f"{path}: a result that names no content must be a failure"
        return
    assert path.is_file() and file_sha256(path) == source["sha256"], f"{path}: the row names other content"
    assert row["doc_id"] == source["sha256"][:16]
    if row["status"] == "failed":
        return
    stored = json.loads((out / row["doc_id"] / "pages.json").read_text("utf-8"))
    assert stored["source"]["sha256"] == source["sha256"]
    text = [page.text for page in ingest(path).pages]
    assert [page["text"] for page in stored["pages"]] == text, f"{path}: pages.json is not this file's text"
    for clause in row["clauses"]:
        assert clause["citation"]["quote"] in "\n".join(text), f"{path}: a quote not in this file"
