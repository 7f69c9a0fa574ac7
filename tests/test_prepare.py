"""Parallel ingest + plan: input order, the same plans as one process, failures per document, work done ahead
of the caller within a bound, and the runner's results unchanged by --jobs."""

import json
import threading
from pathlib import Path

from pipeline.tasks.checklist import load_checklist
from pipeline.config import RunConfig
from pipeline.run.prepare import Preparer
from pipeline.run.core import run
from tests.conftest import SAMPLES, write_contracts

CHECKLIST = load_checklist(None)


def _inputs(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "in"
    paths = write_contracts(folder, 5)
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7\nnot really a pdf\n%%EOF\n")
    return [paths[0], paths[1], folder / "broken.pdf", *paths[2:], *sorted(SAMPLES.glob("*.pdf"))]


def test_two_jobs_give_the_plans_of_one_process_in_input_order(tmp_path):
    paths = _inputs(tmp_path)
    with Preparer(RunConfig(jobs=2), CHECKLIST) as preparer:
        parallel = list(preparer.prepare((p, None) for p in paths))
    with Preparer(RunConfig(ingest_timeout=0), CHECKLIST) as preparer:  # in this process, one at a time
        assert preparer.jobs == 1
        single = list(preparer.prepare((p, None) for p in paths))
    assert [p.path for p in parallel] == paths == [p.path for p in single]
    for a, b in zip(parallel, single, strict=True):
        assert (a.plan is None) == (b.plan is None) and a.sha256 == b.sha256
        if a.plan is not None:
            assert a.plan == b.plan and set(a.seconds) == {"ingest", "plan"}
    broken = parallel[2]
    assert broken.plan is None and broken.error is not None and broken.error[0] == "ingest"
    assert "corrupt or unreadable PDF" in broken.error[2]


def test_the_pool_works_ahead_of_the_caller_within_its_bound(tmp_path, monkeypatch):
    paths = write_contracts(tmp_path, 8)
    pulled: list[Path] = []
    finished = threading.Event()
    original = Preparer._one

    def recording(self, path, sha256):
        result = original(self, path, sha256)
        if path == paths[3]:
            finished.set()
        return result

    def items():
        for path in paths:
            pulled.append(path)
            yield path, None

    monkeypatch.setattr(Preparer, "_one", recording)
    with Preparer(RunConfig(jobs=2, batch_documents=4), CHECKLIST) as preparer:
        stream = preparer.prepare(items())
        first = next(stream)
        assert first.path == paths[0]
        # While the caller holds the first document (e.g. runs the engine on it), the next ones are being read.
        assert finished.wait(timeout=120)
        assert len(pulled) == 5  # ahead = 4 submitted, plus the one that replaced the document taken
        rest = list(stream)
    assert [p.path for p in rest] == paths[1:]


def test_results_do_not_depend_on_jobs(tmp_path):
    paths = _inputs(tmp_path)
    outputs = {}
    for jobs in (1, 2):
        out = tmp_path / f"out{jobs}"
        report = run(paths, out, RunConfig(jobs=jobs, batch_documents=3))
        assert report.totals["failed"] == 1 and report.totals["ok"] == len(paths) - 1
        outputs[jobs] = {
            row.doc_id: {k: v for k, v in json.loads((out / row.doc_id / "result.json").read_text()).items()
                         if k != "seconds"}
            for row in report.documents
        }
    assert outputs[1] == outputs[2]
