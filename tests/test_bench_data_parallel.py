"""Smoke test of bench/data_parallel.py on the CPU: a few small documents, 1 and 2 extractive workers."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

BENCH = REPO / "bench" / "data_parallel.py"


@pytest.mark.slow
def test_bench_compares_sizes_on_the_cpu(tmp_path):
    docs, out, report = tmp_path / "docs", tmp_path / "out", tmp_path / "bench.json"
    subprocess.run([sys.executable, str(BENCH), "docs", str(docs), "--count", "4", "--min-tokens", "300",
                    "--max-tokens-doc", "1500"], check=True, capture_output=True)
    done = subprocess.run([sys.executable, str(BENCH), "run", "--docs", str(docs), "--out", str(out),
                           "--json", str(report)], check=True, capture_output=True, text=True)
    rows = json.loads(report.read_text())
    assert [r["workers"] for r in rows] == [1, 2] and all(r["documents"] == 4 for r in rows)
    assert set(rows[0]["statuses"].values()) == {"ok"} and rows[1]["statuses"] == rows[0]["statuses"]
    assert "| 2 | 4 |" in done.stdout
    for result in (out / "dp1").glob("*/result.json"):
        one, two = json.loads(result.read_text()), json.loads((out / "dp2" / result.parent.name / "result.json").read_text())
        assert {**one, "seconds": {}} == {**two, "seconds": {}}
