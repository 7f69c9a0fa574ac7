"""Data parallelism: N extractive workers in spawned processes give the single engine's results; a worker
that dies fails only its own documents; documents are balanced by prompt tokens."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import pytest

from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.config import EngineSettings, RunConfig
from pipeline.engines.base import Engine, create_engine
from pipeline.engines.extractive import ExtractiveEngine
from pipeline.engines.parallel import DataParallelEngine, assign, worker_devices
from pipeline.errors import EngineError
from pipeline.models import Completion, Request, RunReport
from pipeline.run.core import run
from tests.conftest import SAMPLES, filler

GOVERNING = "This Agreement shall be governed by and construed in accordance with the laws of the State of Delaware."


class CrashingEngine(ExtractiveEngine):
    """The extractive engine, except that its process exits at once on a request of `doc_id`."""

    name = "extractive"

    def __init__(self, doc_id: str) -> None:
        super().__init__(summary_points=8)
        self.doc_id = doc_id

    def generate(self, requests):  # type: ignore[no-untyped-def]
        if any(r.doc_id == self.doc_id for r in requests):
            os._exit(17)
        return super().generate(requests)


def crashing(config: RunConfig, doc_id: str) -> Engine:
    return CrashingEngine(doc_id)


class BrokenEngine(ExtractiveEngine):
    """Starts, then finds at its first batch that it cannot work (as a lazily loading engine may)."""

    def generate(self, requests):  # type: ignore[no-untyped-def]
        raise EngineError("CUDA out of memory while loading")


def broken(config: RunConfig) -> Engine:
    return BrokenEngine()


def failing(config: RunConfig) -> Engine:
    raise EngineError("no GPU here")


def _request(doc_id: str, task: str, tokens: int) -> Request:
    return Request(request_id=f"{doc_id}:{task}", doc_id=doc_id, task=task, route="whole", messages=(),
                   json_schema={}, max_tokens=16, prompt_tokens=tokens)


def _results(out: Path) -> dict[str, dict]:
    found = {}
    for path in sorted(out.glob("*/result.json")):
        doc = json.loads(path.read_text())
        doc.pop("seconds")
        found[doc["doc_id"]] = doc
    return found


def _corpus(make_pdf) -> Path:
    """Five documents; the last one holds more tokens than the other four together."""
    for i in range(4):
        make_pdf(f"in/doc{i}.pdf", [filler(80 * (i + 1), str(i)), GOVERNING + " " + filler(40, f"x{i}")])
    big = make_pdf("in/big.pdf", [filler(600, f"big{p}") for p in range(6)] + [GOVERNING])
    return big.parent


def test_assign_balances_tokens_and_keeps_documents_whole():
    requests = [_request(d, t, n) for d, n in [("a", 100), ("b", 60), ("c", 50), ("d", 10)] for t in ("s", "c")]
    shares = assign(requests, 2)
    docs = [{requests[i].doc_id for i in share} for share in shares]
    assert docs == [{"a", "d"}, {"b", "c"}]  # 220 tokens each: a; b; c beside b; d beside a
    assert all(share == sorted(share) for share in shares)  # input order kept within a worker
    assert sorted(i for share in shares for i in share) == list(range(len(requests)))


def test_worker_devices_pick_each_workers_gpus():
    assert [worker_devices(i, 1, None) for i in range(2)] == ["0", "1"]
    assert [worker_devices(i, 2, "4,5,6,7") for i in range(2)] == ["4,5", "6,7"]


@pytest.mark.slow
def test_two_workers_give_the_single_engine_results(make_pdf, tmp_path):
    inputs = _corpus(make_pdf)
    one = run([inputs, SAMPLES], tmp_path / "one", RunConfig())
    args = ["run", str(inputs), str(SAMPLES), "-o", str(tmp_path / "two"), "--data-parallel", "2"]
    assert CliRunner().invoke(app, args).exit_code == 0
    two = RunReport.model_validate_json((tmp_path / "two" / "run_report.json").read_text())
    assert two.engine == one.engine and two.totals == one.totals
    assert _results(tmp_path / "two") == _results(tmp_path / "one")
    assert len(_results(tmp_path / "one")) == 8


@pytest.mark.slow
def test_a_dead_worker_fails_only_its_documents(make_pdf, tmp_path):
    inputs = _corpus(make_pdf)
    plain = run([inputs], tmp_path / "plain", RunConfig())
    victim = max(plain.documents, key=lambda d: d.prompt_tokens or 0).doc_id
    engine = DataParallelEngine(RunConfig(), 2, functools.partial(crashing, doc_id=victim))
    try:
        report = run([inputs], tmp_path / "dp", RunConfig(), engine=engine)
    finally:
        engine.close()
    failed = {d.doc_id for d in report.documents if d.status == "failed"}
    # The victim is the heaviest document, alone on its worker: only it fails.
    assert failed == {victim}
    errors = [e.message for d in report.documents for e in d.errors]
    assert any("died (exit code 17)" in message for message in errors)
    expected = _results(tmp_path / "plain")
    for doc_id, doc in _results(tmp_path / "dp").items():
        if doc_id != victim:
            assert doc == expected[doc_id]


@pytest.mark.slow
def test_dead_worker_is_restarted_for_the_next_batch():
    engine = DataParallelEngine(RunConfig(), 2, functools.partial(crashing, doc_id="boom"))
    try:
        first = engine.generate([_request("boom", "summary", 10)])
        assert first[0].error and "died" in first[0].error
        again = engine.generate([_request("fine", "summary", 10), _request("other", "summary", 5)])
        assert [c.request_id for c in again] == ["fine:summary", "other:summary"]
        assert all(isinstance(c, Completion) and c.error is None for c in again)
    finally:
        engine.close()


def test_a_worker_that_cannot_start_is_an_engine_error():
    with pytest.raises(EngineError, match="could not start: EngineError: no GPU here"):
        DataParallelEngine(RunConfig(), 2, failing)


def test_an_engine_error_in_a_worker_stops_the_run_as_one_engine_would():
    engine = DataParallelEngine(RunConfig(), 2, broken)
    try:
        with pytest.raises(EngineError, match="engine worker 0: CUDA out of memory while loading"):
            engine.generate([_request("a", "summary", 10), _request("b", "summary", 5)])
    finally:
        engine.close()


def test_create_engine_chooses_data_parallel_only_above_one():
    assert isinstance(create_engine(RunConfig()), ExtractiveEngine)
    engine = create_engine(RunConfig(engine_settings=EngineSettings(data_parallel_size=2)))
    try:
        assert isinstance(engine, DataParallelEngine) and len(engine.workers) == 2 and engine.name == "extractive"
    finally:
        engine.close()


def test_data_parallel_below_one_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(app, ["run", str(SAMPLES), "-o", str(tmp_path), "--data-parallel", "0"])
    assert result.exit_code == 2
