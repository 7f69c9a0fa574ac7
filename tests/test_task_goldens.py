"""The built-in tasks' outputs, unchanged: a run over samples/ (whole route) and over one sample squeezed
into windows (windows route, clause merge and summary reduce) with the extractive engine, compared file by
file with goldens recorded from the code before tasks became data (tests/goldens/tasks/).

`DOCPIPE_REGENERATE_GOLDENS=1` rewrites the goldens instead of comparing; the last test fails when that
switch is on in CI, so a regenerated golden cannot pass unnoticed.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from pipeline.config import RunConfig
from pipeline.run.core import run
from tests.conftest import SAMPLES

GOLDENS = Path(__file__).parent / "goldens" / "tasks"
REGENERATE = os.environ.get("DOCPIPE_REGENERATE_GOLDENS") == "1"
WINDOWED = "neon-systems-distributor-agreement.pdf"
CASES = {
    "samples": ([SAMPLES], {}),
    # 8,000 tokens a window: the 12-page sample becomes 7 windows, so both merges run
    "windowed": ([SAMPLES / WINDOWED], {"max_context": 8000}),
}


def _stable(result: dict) -> dict:
    """A result.json without what varies from run to run (timings), the format's version (1.3 added
    `extractions`, which a run of the built-ins leaves out: their files are otherwise unchanged) and the result
    key (a hash of docpipe's version, templates and task files: it changes whenever they do, by design)."""
    return {k: v for k, v in result.items() if k not in ("seconds", "schema_version", "result_key")}


def _outputs(out: Path) -> dict[str, str]:
    """Every file a run writes that the built-in tasks shape, as comparable text."""
    files: dict[str, str] = {}
    for result_file in sorted(out.glob("*/result.json")):
        doc = result_file.parent.name
        files[f"{doc}/result.json"] = json.dumps(_stable(json.loads(result_file.read_text())), indent=2) + "\n"
        files[f"{doc}/summary.md"] = (result_file.parent / "summary.md").read_text()
    files["clauses.csv"] = (out / "clauses.csv").read_text()
    lines = [json.dumps(_stable(json.loads(line))) for line in (out / "results.jsonl").read_text().splitlines()]
    files["results.jsonl"] = "\n".join(lines) + "\n"
    # paths relative to the repository, so that the goldens hold no path of the machine that made them
    return {name: text.replace(str(SAMPLES.parent) + "/", "") for name, text in files.items()}


@pytest.mark.parametrize("case", sorted(CASES))
def test_builtin_tasks_match_goldens(case: str, tmp_path: Path) -> None:
    inputs, options = CASES[case]
    run(inputs, tmp_path, RunConfig(engine="extractive", **options))
    produced = _outputs(tmp_path)
    folder = GOLDENS / case
    if REGENERATE:
        shutil.rmtree(folder, ignore_errors=True)
        for name, text in produced.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)
    expected = {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}
    assert sorted(produced) == sorted(expected)
    for name, text in expected.items():
        assert produced[name] == text, f"{case}/{name} differs from its golden"
    if case == "windowed":  # the case must exercise what it is there for
        result = json.loads(next(v for k, v in expected.items() if k.endswith("result.json")))
        assert result["route"]["kind"] == "windows" and len(result["route"]["windows"]) > 1
        assert result["route"]["reduce_depth"] >= 1


def test_goldens_are_not_regenerated_in_ci() -> None:
    assert not (REGENERATE and os.environ.get("CI")), "DOCPIPE_REGENERATE_GOLDENS is on in CI: goldens would not be checked"
