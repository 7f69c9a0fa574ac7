"""Parse + cite beside the engine (pipeline.run.assembler, issue 16): worker processes give the results the
inline path gives, windows and the summary reduce included, and a worker that dies costs no document."""

from __future__ import annotations

import os
import signal
import time

from pipeline.api import make_config
from pipeline.engines.base import create_engine, engine_info
from pipeline.models import Plan
from pipeline.run.assembler import Assembler
from pipeline.run.batch import Outcome, stream
from pipeline.run.core import failure_of, plan_inputs
from pipeline.tasks.checklist import load_checklist
from tests.conftest import SAMPLES


def _results(config, plans, jobs):
    engine = create_engine(config)
    info = engine_info(engine)
    outcomes = [Outcome(path=p.document.source.path, plan=p) for p in plans]
    done = {}
    for result, outcome in stream(outcomes, engine, info, load_checklist(), config, failure_of(info),
                                  assemble_jobs=jobs):
        done[str(outcome.path)] = result.model_dump(mode="json", exclude={"seconds"})
    engine.close()
    return done


def test_worker_processes_give_the_inline_results_windows_and_reduce_included():
    # small windows and reply room: the samples are windowed, and their summaries need the reduce
    config = make_config(max_context=4096, summary_reserve=200, clauses_reserve=300, summary_points=3,
                         ingest_timeout=0)
    plans = [p for p in plan_inputs([SAMPLES], config) if isinstance(p, Plan)]
    assert len(plans) == 3 and all(p.route.kind == "windows" for p in plans)
    inline = _results(config, plans, 0)
    pooled = _results(config, plans, 2)
    assert pooled == inline
    assert all(r["status"] == "ok" for r in pooled.values())
    assert any(len(r["summary"]) for r in pooled.values())


def test_a_dead_worker_costs_no_document():
    config = make_config(ingest_timeout=0)
    plans = [p for p in plan_inputs([SAMPLES], config) if isinstance(p, Plan)]
    engine = create_engine(config)
    info = engine_info(engine)
    checklist = load_checklist()
    replies = [engine.generate(list(p.requests)) for p in plans]
    assembler = Assembler(2)
    try:
        first = assembler.submit(plans[0], replies[0], info, checklist, 8)
        expected = assembler.result(first)[0]
        for pid in list(assembler._pool._processes):  # noqa: SLF001 - the test kills the workers themselves
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        futures = [assembler.submit(p, r, info, checklist, 8) for p, r in zip(plans, replies)]
        results = [assembler.result(f)[0] for f in futures]
    finally:
        assembler.close()
    assert not assembler.pooled  # the pool broke, the documents were assembled here instead
    assert [r.status for r in results] == ["ok"] * 3
    assert results[0].model_dump(exclude={"seconds"}) == expected.model_dump(exclude={"seconds"})
