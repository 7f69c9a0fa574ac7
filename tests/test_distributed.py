"""The Ray path on a local Ray instance (CPU, the extractive engine) gives the plain run's results."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.config import RunConfig
from pipeline.models import RunReport
from pipeline.run.core import run
from tests.conftest import SAMPLES

ray = pytest.importorskip("ray", reason="the ray extra is not installed") if not os.environ.get(
    "DOCPIPE_REQUIRE_RAY") else __import__("ray")


def _results(out: Path) -> dict[str, dict]:
    found = {}
    for path in sorted(out.glob("*/result.json")):
        doc = json.loads(path.read_text())
        doc.pop("seconds")
        found[doc["doc_id"]] = doc
    return found


def _report(out: Path) -> list[dict]:
    rows = json.loads((out / "run_report.json").read_text())["documents"]
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


@pytest.mark.slow
# Ray Data's DataContext sets its own deprecated options when it is built (ray 2.60): not ours to fix.
@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")
def test_ray_pipeline_matches_the_plain_run(make_pdf, tmp_path):
    broken = make_pdf("in/broken.pdf", ["x"])
    broken.write_bytes(b"%PDF-1.4 not really")
    inputs = [SAMPLES, broken.parent]
    config = RunConfig()
    plain = run(inputs, tmp_path / "plain", config)
    args = ["run", *map(str, inputs), "-o", str(tmp_path / "ray"), "--ray", "local"]
    ray.init(num_cpus=2, include_dashboard=False)
    try:  # through the CLI: the same exit code (1: one document failed) as a plain run
        assert CliRunner().invoke(app, args).exit_code == 1
    finally:
        ray.shutdown()
    distributed = RunReport.model_validate_json((tmp_path / "ray" / "run_report.json").read_text())
    assert _results(tmp_path / "ray") == _results(tmp_path / "plain")
    assert _report(tmp_path / "ray") == _report(tmp_path / "plain")
    assert distributed.totals == plain.totals and distributed.totals["failed"] == 1
    assert distributed.engine == plain.engine
    for name in ("index.html", "clauses.csv", "results.jsonl"):
        assert (tmp_path / "ray" / name).is_file()
    for pages in (tmp_path / "plain").glob("*/pages.json"):
        assert (tmp_path / "ray" / pages.parent.name / "pages.json").read_bytes() == pages.read_bytes()


WORDS = ("licence", "delivery", "escrow", "audit", "insurance", "renewal", "notice", "payment", "warranty", "support")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")
def test_a_windowed_document_gives_the_same_result_on_every_path(make_pdf, tmp_path):
    """One batch core behind every caller: a document of several windows whose summary needs the reduce goes
    through the plain runner, the data-parallel runner and the Ray path; result.json is identical (timings
    aside), reduce included (the Ray path once had no summary merge at all)."""
    from pipeline.run.ray import run_ray

    pages = [" ".join(f"Section {p}.{k} sets the {WORDS[(p + k) % 10]} terms for the {WORDS[k % 10]} of year {k}."
                      for k in range(60)) for p in range(12)]
    folder = make_pdf("in/long.pdf", pages).parent
    config = RunConfig(max_context=6000, summary_points=5)
    parallel = config.model_copy(update={"engine_settings": config.engine_settings.model_copy(
        update={"data_parallel_size": 2})})
    run([folder], tmp_path / "plain", config)
    run([folder], tmp_path / "parallel", parallel)
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        run_ray([folder], tmp_path / "ray", config)
    finally:
        ray.shutdown()
    (plain,) = _results(tmp_path / "plain").values()
    assert len(plain["route"]["windows"]) >= 3 and plain["route"]["reduce_depth"] >= 1
    assert 1 <= len(plain["summary"]) <= 5 and plain["usage"]["reduce_requests"] >= 1
    assert _results(tmp_path / "parallel") == _results(tmp_path / "plain")
    assert _results(tmp_path / "ray") == _results(tmp_path / "plain")
