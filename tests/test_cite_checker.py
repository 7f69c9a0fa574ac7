"""The citation checker's benchmark (bench/cite_checker.py) on the three sample contracts, with its targets.

The full benchmark runs on the CUAD dev set (docs/bench-cite.md); CI has only samples/, so the same generator
runs here on their pypdf text with a fixed seed: a few hundred quotes of each class.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, SAMPLES

BENCH = REPO / "bench" / "cite_checker.py"
TRUE = ("verbatim", "respaced", "wrong_page", "ocr_slips")
FALSE = ("negation_added", "negation_removed", "number_changed", "name_replaced", "date_shifted", "other_contract")


@pytest.mark.slow
def test_false_quotes_are_refused_and_true_ones_found_on_their_page(tmp_path):
    out = tmp_path / "checker.json"
    subprocess.run([sys.executable, str(BENCH), str(SAMPLES), "--per-class", "300", "--seed", "0",
                    "--json", str(out)], check=True, capture_output=True)
    rows = json.loads(out.read_text())["classes"]
    assert rows.keys() == set(TRUE) | {"dropped_filler"} | set(FALSE)
    assert all(rows[k]["quotes"] >= 70 for k in rows if k != "date_shifted")  # the samples hold few dates
    for kind in TRUE:
        assert rows[kind]["rate"] >= 0.99, (kind, rows[kind])
    assert rows["dropped_filler"]["rate"] >= 0.90, rows["dropped_filler"]
    for kind in FALSE:
        assert rows[kind]["rate"] <= 0.005, (kind, rows[kind])
