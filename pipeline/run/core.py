"""The runner: drives ingest → plan → engine → assemble → render over a set of PDFs.

Contract: `run(inputs, output, config)` takes the output folder's lock (else `LockedError`), asks the
run store which PDFs are new or changed (`incremental.survey`), streams those through the one batch core
(`batch.stream`: at most `config.batch_documents` in flight, no barrier between them), writes each
document's result the moment it is done and records it in the store only then (a result that cannot be
written as it is — e.g. text that is not valid Unicode — is repaired, else replaced by a failed one), and returns the RunReport (also written to `OUT/run_report.json`) covering every
input: processed, reused and duplicate. A document that fails at any stage gets a `failed` result with
its cause; the others go on. PDFs are read and planned in killable reader processes (`prepare`,
`run.reader`, under the ingest limits), ahead of the engine. The readers and the engine are started only
when there is work for them: the engine's `start` at once, while the first documents are read, and its `warm_up` on the
first planned document (the vLLM engine starts there the configuration that document needs, native or YaRN).
Each result also gets its `pages.json`, and whenever the review report and exports of `output` are not of
the run store's latest state they are rebuilt from its current inputs (`store.current.refresh_review`).
SIGINT/SIGTERM stop the run cleanly (`stopping.py`) with `Interrupted`.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pipeline.cite.facts import claim_counts
from pipeline.tasks.checklist import load_checklist
from pipeline.tasks.registry import load_tasks, require_engine_runs, uses_checklist
from pipeline.config import RunConfig
from pipeline.engines.base import Engine, create_engine, engine_info, engine_tasks, open_for_planning
from pipeline.errors import ConfigError
from pipeline.store.key import key_parts, result_key
from pipeline.store.survey import Survey, doc_key, is_final, survey
from pipeline.ingest.read import DOC_ID_LENGTH, find_pdfs
from pipeline.store.lock import output_lock
from pipeline.models import (
    ChecklistItem, DocError, DocReport, DocResult, EngineInfo, Plan, RunReport, Source,
)
from pipeline.run.prepare import Prepared, Preparer
from pipeline.tasks.templates import template_hashes
from pipeline.run.progress import RunProgress
from pipeline.merge.items import clean
from pipeline.run.batch import Failed, Outcome, stream
from pipeline.render.result import remove_stray_temp_files, write_result, write_run_report
from pipeline.sanitize import path_text
from pipeline.run.stopping import StopFlag, stop_on_signals
from pipeline.store.runstore import RunStore
# Issue 18 (the output folder tells the truth): the store's side of a run, called at marked call sites.
from pipeline.ingest.flags import flag_pages
from pipeline.store.current import refresh_review
from pipeline.store.failures import output_error, output_failures, salvage_report
from pipeline.store.preflight import check_config
from pipeline.store.reconfigure import check_settings

log = logging.getLogger(__name__)

Progress = Callable[[DocResult], None]


_Outcome = Outcome  # the name the Ray path and older callers use


@dataclass
class _Session:
    """One run while it holds the output folder: where results go and how they are recorded."""

    output: Path
    config: RunConfig
    checklist: tuple[ChecklistItem, ...]
    key: str
    store: RunStore
    run_id: int
    stop: StopFlag
    on_result: Progress | None = None
    progress: RunProgress | None = None
    reports: list[DocReport] = field(default_factory=list)

    def finish(self, result: DocResult, outcome: _Outcome, attempts: int) -> None:
        """Write a document's files, then record it in the store (in that order: a row means durable files)."""
        result = flag_pages(result).model_copy(update={"result_key": self.key})  # issue 18
        result = write_sound(self.output, result, outcome)
        report = doc_report(result, outcome)
        final = is_final(report, outcome.sha256, attempts + 1)
        self.store.record(self.run_id, self.key, doc_key(outcome.path, outcome.sha256), report, final)
        self.reports.append(report)
        log.info("%s: %s (%d done in this run)", report.path, report.status, len(self.reports))
        if self.on_result:
            self.on_result(result)
        if self.progress:
            self.progress.advance(report)


def run(
    inputs: Sequence[Path], output: Path, config: RunConfig, engine: Engine | None = None,
    on_result: Progress | None = None, progress: RunProgress | None = None,
) -> RunReport:
    """Process every new or changed PDF under `inputs`; see the module docstring."""
    missing = [str(p) for p in inputs if not os.path.lexists(p)]
    if missing:
        raise ConfigError(f"input not found: {', '.join(missing)}")
    check_config(config)  # issue 18: every configuration error before anything is touched
    tasks = load_tasks(config.tasks)  # every task file checked before any document is touched
    if engine is not None or config.engine in ("extractive", "keyword"):
        require_engine_runs(config.engine if engine is None else engine.name, engine_tasks(config, engine), tasks)
    checklist = load_checklist(config.checklist) if uses_checklist(tasks) else ()
    parts = key_parts(config, checklist, {task.name: task.digest() for task in tasks})
    key = result_key(parts)
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(output, exc) or ConfigError(f"output folder {output}: {exc.strerror or exc}") from exc
    # issue 18: output_failures turns disk full / read-only into OutputError, also outside the session
    with output_failures(output), output_lock(output) as lock, RunStore(output) as store, \
            stop_on_signals() as stop:
        check_settings(store, parts, config.reconfigure)  # issue 18: refuse another configuration
        store.guard = lock.check  # issue 18: a deleted lock file stops the run before its next record
        for stray in remove_stray_temp_files(output):
            log.info("removed %s, left behind by a run that was killed", stray)
        session = _Session(output, config, checklist, key, store, store.begin_run(key, parts), stop, on_result,
                           progress)
        try:
            report = _run_locked(session, inputs, engine)
        except BaseException as exc:
            _abandon(session, exc)  # issue 18: disk full, read-only, lock lost → OutputError and a report
            raise
        store.end_run(session.run_id, "interrupted" if stop.requested else "finished", report.totals)
    if stop.requested:
        raise stop.error(f"{len(session.reports)} documents done in this run and recorded; "
                         f"{int(report.totals['pending'])} left for the next run")
    return report


def _abandon(s: _Session, exc: BaseException) -> None:
    """Mark the run abandoned; when the output folder failed, raise that as OutputError after writing what
    is known to run_report.json (where the folder still takes it)."""
    error = output_error(s.output, exc)
    try:
        s.store.end_run(s.run_id, "abandoned")
    except Exception:  # noqa: BLE001 — the store may be on the full disk too; the first error is the one to tell
        log.debug("could not mark run %d abandoned", s.run_id, exc_info=True)
    if error is None:
        return
    now = datetime.now(timezone.utc).isoformat()
    salvage_report(s.output, RunReport(
        started_at=now, finished_at=now, engine=EngineInfo(name=s.config.engine, model=s.config.model),
        tasks=s.config.tasks, prompt_hashes=template_hashes(), documents=tuple(s.reports),
        totals=totals(s.reports) | {"processed": len(s.reports)}, error=str(error)))
    raise error from exc


def _run_locked(s: _Session, inputs: Sequence[Path], engine: Engine | None) -> RunReport:
    started = datetime.now(timezone.utc)
    work = survey(find_pdfs(inputs, s.config.follow_symlinks), s.store, s.run_id, s.key, s.output, s.config.redo)
    if s.progress:
        s.progress.begin(len(work.todo), len(work.reused) + len(work.duplicates))
    try:
        info = _process(s, work, engine)
    finally:
        if s.progress:
            s.progress.end()
    done = {r.path: r for r in [*work.reused, *s.reports]}
    duplicates = [
        done[original].model_copy(update={"path": path_text(item.path), "duplicate_of": original})
        for item, original in ((item, path_text(first)) for item, first in work.duplicates) if original in done
    ]
    reports = sorted([*done.values(), *duplicates], key=lambda r: r.path)
    counts = totals(reports) | {"processed": len(s.reports), "reused": len(work.reused),
                                "duplicates": len(duplicates), "pending": len(work.todo) + len(work.duplicates)
                                - len(s.reports) - len(duplicates)}
    report = RunReport(
        started_at=started.isoformat(), finished_at=datetime.now(timezone.utc).isoformat(), engine=info,
        tasks=s.config.tasks, prompt_hashes=template_hashes(), documents=tuple(reports), totals=counts,
        stopped_by=s.stop.name,
    )
    write_run_report(s.output, report)
    s.store.guard()
    refresh_review(s.output, s.store)  # issue 18: whenever the review is not of the store's latest state
    return report


def _process(s: _Session, work: Survey, engine: Engine | None) -> EngineInfo:
    """Ingest, plan, run and record the documents to do, each as soon as it is done, until done or stopped.
    Reading and planning run in worker processes ahead of the engine."""
    config, info = s.config, EngineInfo(name=s.config.engine, model=s.config.model)
    if not work.todo:
        return info  # nothing to do: no reader, no tokenizer, no engine
    try:
        engine, config = open_for_planning(config, engine)  # a server's context length caps the routes
        with Preparer(config, s.checklist) as preparer:
            prepared = preparer.prepare((item.path, item.sha256) for item in work.todo)  # reading starts now
            engine = engine or create_engine(config)
            info = engine_info(engine)
            prepared = _start_engine(prepared, engine, s.stop)  # while the reader processes work
            outcomes = (outcome_of(p, info) for p in prepared)
            for result, outcome in stream(outcomes, engine, info, s.checklist, config, failure_of(info),
                                          lambda: s.stop.requested, preparer.ready, assemble_jobs(config)):
                s.finish(result, outcome, work.attempts.get(doc_key(outcome.path, outcome.sha256), 0))
    finally:
        if engine is not None:
            engine.close()
    return info


def assemble_jobs(config: RunConfig) -> int:
    """Worker processes that parse and cite replies beside the engine (`DOCPIPE_ASSEMBLE_JOBS`, default 0:
    in the thread that steps the engine, whose engine core — a process of its own — generates meanwhile).
    Measured on an H200 (docs/bench-vllm.md): 16 workers gave 0.795 of raw vLLM, 4 gave 0.832, none 0.923
    — busy CPUs slow vLLM's own CPU work more than the parsing they take off the main thread. Only for
    engines that sample from a model; never when `--ingest-timeout 0` keeps everything in this process."""
    if config.engine not in ("vllm", "server") or not config.ingest_timeout:
        return 0
    raw = os.environ.get("DOCPIPE_ASSEMBLE_JOBS", "0").strip() or "0"
    try:
        jobs = int(raw)
    except ValueError as exc:
        raise ConfigError(f"DOCPIPE_ASSEMBLE_JOBS must be a number of processes, got {raw!r}") from exc
    return jobs if jobs > 1 else 0


def _start_engine(prepared: Iterator[Prepared], engine: Engine, stop: StopFlag) -> Iterator[Prepared]:
    """Start the engine (`start`, where it has one) while the reader processes read the first documents,
    then, once the first document is planned, let it warm up on that document's requests (`warm_up`, where
    it has one). Documents that failed before the first plan are kept for the batch."""
    engine.start()
    taken: list[Prepared] = []
    for item in prepared:
        taken.append(item)
        if item.plan is not None or stop.requested:
            break
    if taken and taken[-1].plan is not None and not stop.requested:
        engine.warm_up(taken[-1].plan.requests)
    return itertools.chain(taken, prepared)


def outcome_of(prepared: Prepared, info: EngineInfo) -> _Outcome:
    """The runner's record of a prepared document; a failure becomes its failed result."""
    # Issue 18: a file that changed while it was read has no known content: its failure goes under its path.
    changed = prepared.error is not None and prepared.error[1] == "ChangedError"
    outcome = _Outcome(path=prepared.path, sha256=None if changed else prepared.sha256, plan=prepared.plan,
                       seconds=dict(prepared.seconds))
    if prepared.error is not None:
        stage, kind, message = prepared.error
        log.debug("%s: %s failed: %s", path_text(prepared.path), stage, message)
        outcome.failure = failed_result(prepared.path, stage, kind, message, info, outcome.sha256)
    return outcome


def plan_inputs(inputs: Sequence[Path], config: RunConfig) -> list[Plan | DocResult]:
    """Ingest and plan every PDF under `inputs` without any engine: a Plan, or a failed DocResult."""
    checklist = load_checklist(config.checklist) if uses_checklist(load_tasks(config.tasks)) else ()
    info = EngineInfo(name="none")
    with Preparer(config, checklist) as preparer:
        paths = find_pdfs(inputs, config.follow_symlinks)
        outcomes = [outcome_of(p, info) for p in preparer.prepare((path, None) for path in paths)]
    return [o.plan or o.failure for o in outcomes if (o.plan or o.failure) is not None]  # type: ignore[misc]


def failure_of(info: EngineInfo) -> Failed:
    """How the core fails one document: a planned one keeps its source and route, with the cause."""
    def failed(outcome: Outcome, stage: str, kind: str, message: str) -> DocResult:
        plan = outcome.plan
        if plan is None:
            return failed_result(outcome.path, stage, kind, message, info, outcome.sha256)
        error = DocError(stage=stage, kind=kind, message=f"{path_text(Path(outcome.path.name))}: {message}")
        return DocResult(doc_id=plan.document.doc_id, status="failed", source=plan.document.source, route=plan.route,
                         engine=info, errors=(error,), seconds=dict(outcome.seconds))
    return failed


def write_sound(output: Path, result: DocResult, outcome: Outcome) -> DocResult:
    """Write a document's files; text that cannot be written (lone surrogates) is made valid Unicode first,
    and a result that still cannot be written is replaced by a failed one saying why. The result written."""
    document = outcome.plan.document if outcome.plan else None
    try:
        result.model_dump_json()
    except ValueError:  # pydantic's serialisation error: e.g. a lone surrogate from a model's JSON escape
        log.info("%s: text that is not valid Unicode repaired before writing", path_text(outcome.path))
        result = DocResult.model_validate(clean(result.model_dump()))
    try:
        write_result(output, result, document)
    except OSError:
        raise  # a full disk or a lost folder is the run's problem, not this document's
    except Exception as exc:  # noqa: BLE001 - e.g. rendering summary.md: this document fails, the run goes on
        result = failure_of(result.engine)(outcome, "render", type(exc).__name__, f"cannot write the result: {exc}")
        write_result(output, result, None)
    return result


def failed_result(
    path: Path, stage: str, kind: str, message: str, info: EngineInfo, sha256: str | None = None
) -> DocResult:
    """A `failed` DocResult for a file that could not be processed (its source recorded when readable)."""
    # Issue 18: never hashed again here: a second read could name other content than the one that failed.
    sha, size = sha256 or "", 0
    doc_id = sha[:DOC_ID_LENGTH] or "path-" + hashlib.sha256(os.fsencode(path)).hexdigest()[: DOC_ID_LENGTH - 5]
    source = Source(path=path_text(path), sha256=sha, page_count=0, size_bytes=size)
    error = DocError(stage=stage, kind=kind, message=f"{path_text(Path(path.name))}: {message}")
    return DocResult(doc_id=doc_id, status="failed", source=source, route=None, engine=info, errors=(error,))


def doc_report(result: DocResult, outcome: _Outcome) -> DocReport:
    counts = {"verified": 0, "relocated": 0, "unverified": 0}
    for citation in result.all_citations():
        counts[citation.status] += 1
    route = result.route
    return DocReport(
        doc_id=result.doc_id, path=path_text(outcome.path), status=result.status,
        route=route.kind if route else None, prompt_tokens=route.prompt_tokens if route else None,
        output_tokens=result.usage.get("output_tokens"), windows=len(route.windows) if route else 0,
        window_spans=route.windows if route else (),
        reduce_depth=route.reduce_depth if route else 0, seconds=result.seconds, citations=counts,
        claims=claim_counts(result),
        usage=result.usage, errors=result.errors,
    )


def totals(reports: Sequence[DocReport]) -> dict[str, float]:
    out: dict[str, float] = {"documents": len(reports)}
    for status in ("ok", "partial", "failed"):
        out[status] = sum(r.status == status for r in reports)
    out["prompt_tokens"] = sum(r.prompt_tokens or 0 for r in reports)
    for key in ("engine_prompt_tokens", "output_tokens"):  # as the engine counted them, all requests
        out[key] = sum(r.usage.get(key.removeprefix("engine_"), 0) for r in reports)
    for key in ("verified", "relocated", "unverified"):
        out[f"citations_{key}"] = sum(r.citations.get(key, 0) for r in reports)
    cited = sum(out[f"citations_{k}"] for k in ("verified", "relocated", "unverified"))
    if cited:  # issue 18: with no citation at all, no ratio is claimed
        out["citations_found_ratio"] = (out["citations_verified"] + out["citations_relocated"]) / cited
    for key in ("checked", "unsupported"):
        out[f"claims_{key}"] = sum(r.claims.get(key, 0) for r in reports)
    return out
