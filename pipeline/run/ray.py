"""The run on a Ray cluster, as a Ray Data pipeline. The only module that imports `ray` (an optional extra).

Contract: `run_ray(inputs, output, config, address)` does what `runner.run` does — same result.json,
pages.json, summary.md, run_report.json, review report and exports, same errors — with the stages spread
over a Ray cluster:

    PDF paths (driver) ─map_batches→ ingest + plan (CPU tasks) ─map_batches→ the batch core (an actor
    pool: one actor per GPU, or per tensor-parallel group, each holding docpipe's engine and running
    `batch.stream` — parse, cite, clause merge and summary reduce, as in a plain run) ─→ the driver, which
    writes every file.

A batch of `config.batch_documents` documents goes to one actor whole, so a document's requests stay
together (prefix caching) and its reduce runs on the engine that read its windows. Rows carry the stage objects as JSON (the frozen models round-trip exactly).
docpipe (and the engine's extra) must be installed on every node of the cluster. Unlike `runner.run` it
keeps no run store and takes no lock: every document is processed, as on a first plain run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipeline.tasks.checklist import load_checklist
from pipeline.tasks.registry import load_tasks, uses_checklist
from pipeline.config import RunConfig
from pipeline.engines.base import create_engine, engine_info
from pipeline.engines.parallel import single
from pipeline.errors import ConfigError, EngineError
from pipeline.install import install_hint
from pipeline.ingest.read import file_sha256, find_pdfs
from pipeline.run.reader import DocumentReader
from pipeline.models import DocReport, DocResult, EngineInfo, Plan, RunReport
from pipeline.run.prepare import prepare_one
from pipeline.tasks.templates import template_hashes
from pipeline.render.result import write_run_report
from pipeline.ingest.flags import flag_pages
from pipeline.store.key import key_parts, result_key
from pipeline.store.preflight import check_config
from pipeline.render.review import write_review
from pipeline.run.batch import stream
from pipeline.run.core import Progress, _Outcome, doc_report, failure_of, outcome_of, totals, write_sound

Batch = dict[str, Any]  # Ray Data's "numpy" batch: column name → array


def run_ray(
    inputs: Sequence[Path], output: Path, config: RunConfig, address: str = "auto",
    on_result: Progress | None = None, actors: int | None = None,
) -> RunReport:
    """Process every PDF under `inputs` on the Ray cluster at `address` ('local': a new local one;
    an already initialised Ray is used as it is). `actors`: engine actors (default: the config's
    `data_parallel_size` when above 1, else one per GPU (or tensor-parallel group) of the cluster, 1 without
    GPUs)."""
    ray = _import_ray()
    started = datetime.now(timezone.utc)
    missing = [str(p) for p in inputs if not p.exists()]
    if missing:
        raise ConfigError(f"input not found: {', '.join(missing)}")
    check_config(config)  # issue 18: configuration errors before any document
    key = result_key(key_parts(config, load_checklist(config.checklist) if "clauses" in config.tasks else ()))
    paths = find_pdfs(inputs, config.follow_symlinks)
    output.mkdir(parents=True, exist_ok=True)
    owned = not ray.is_initialized()
    if owned:
        ray.init(address=None if address == "local" else address, include_dashboard=False)
    reports: dict[int, DocReport] = {}
    info = EngineInfo(name=config.engine, model=config.model)
    try:
        for row in _dataset(ray, paths, config, actors).iter_rows() if paths else ():  # streamed, not held
            result = DocResult.model_validate_json(row["result"])
            result = flag_pages(result).model_copy(update={"result_key": key})  # issue 18, as run.core does
            plan = Plan.model_validate_json(row["plan"]) if row["plan"] else None
            result = write_sound(output, result, _Outcome(path=Path(row["path"]), plan=plan))
            reports[int(row["index"])] = doc_report(result, _Outcome(path=Path(row["path"])))
            info = result.engine if plan else info
            if on_result:
                on_result(result)
    except ray.exceptions.RayError as exc:
        raise EngineError(f"the Ray pipeline failed: {exc}") from exc
    finally:
        if owned:
            ray.shutdown()
    ordered = sorted(reports.values(), key=lambda r: r.path)  # as `runner.run` lists them
    counts = totals(ordered) | {"processed": len(ordered), "reused": 0, "duplicates": 0, "pending": 0}
    report = RunReport(
        started_at=started.isoformat(), finished_at=datetime.now(timezone.utc).isoformat(), engine=info,
        tasks=config.tasks, prompt_hashes=template_hashes(), documents=tuple(ordered), totals=counts,
    )
    write_run_report(output, report)
    write_review(output)
    return report


def _import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401 - the Data library is the part we need
    except ImportError as exc:
        raise ConfigError("--ray needs Ray Data: " + install_hint("ray")) from exc
    return ray


def _dataset(ray: Any, paths: Sequence[Path], config: RunConfig, actors: int | None) -> Any:
    """The lazy Ray Dataset of result rows (index, path, plan, result), nothing run yet."""
    gpus_per_actor = max(1, config.engine_settings.tensor_parallel_size) if config.engine == "vllm" else 0
    if actors is None and config.engine_settings.data_parallel_size > 1:
        actors = config.engine_settings.data_parallel_size
    if actors is None:
        gpus = int(ray.cluster_resources().get("GPU", 0))
        actors = max(1, gpus // gpus_per_actor) if gpus_per_actor else 1
    size = max(1, config.batch_documents)
    items = [{"index": i, "path": str(p)} for i, p in enumerate(paths)]
    return (
        ray.data.from_items(items, override_num_blocks=max(1, len(items) // size))
        .map_batches(ingest_and_plan, fn_kwargs={"config": config}, batch_size=size, batch_format="numpy")
        .map_batches(EngineActor, fn_constructor_kwargs={"config": config}, batch_size=size, batch_format="numpy",
                     compute=ray.data.ActorPoolStrategy(size=actors), num_gpus=gpus_per_actor)
    )


def ingest_and_plan(batch: Batch, config: RunConfig) -> Batch:
    """CPU stage: each path's Plan (as JSON), or its failed result."""
    checklist = load_checklist(config.checklist) if uses_checklist(load_tasks(config.tasks)) else ()
    info = EngineInfo(name=config.engine, model=config.model)
    plans, failures, seconds = [], [], []
    with DocumentReader(config) as reader:
        for path in batch["path"]:
            outcome = outcome_of(prepare_one(reader, Path(path), _surveyed(Path(path)), checklist), info)
            plans.append(outcome.plan.model_dump_json() if outcome.plan else "")
            failures.append(outcome.failure.model_dump_json() if outcome.failure else "")
            seconds.append(json.dumps(outcome.seconds))
    return {"index": batch["index"], "path": batch["path"], "plan": plans, "failure": failures, "seconds": seconds}


def _surveyed(path: Path) -> str | None:
    """The file's sha256 before it is read, as the run store's survey sees it (issue 18: the read must find
    the same bytes, else the document is `ChangedError`, not a result of other content); None: unreadable."""
    try:
        return file_sha256(path)
    except OSError:
        return None


class EngineActor:
    """GPU stage: one engine per actor, built once; a batch's documents through the one batch core."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self.engine = create_engine(single(config))  # Ray gives this actor its GPUs; one engine uses them
        self.info = engine_info(self.engine)
        self.checklist = load_checklist(config.checklist) if uses_checklist(load_tasks(config.tasks)) else ()

    def __call__(self, batch: Batch) -> Batch:
        outcomes = []
        for path, raw, failure, timing in zip(batch["path"], batch["plan"], batch["failure"], batch["seconds"]):
            plan = Plan.model_validate_json(raw) if raw else None
            outcomes.append(_Outcome(path=Path(path), plan=plan, seconds=json.loads(timing),
                                     failure=DocResult.model_validate_json(failure) if failure else None))
        done = {id(outcome): result for result, outcome in
                stream(outcomes, self.engine, self.info, self.checklist, self.config, failure_of(self.info))}
        results = [done[id(outcome)].model_dump_json() for outcome in outcomes]
        return {"index": batch["index"], "path": batch["path"], "plan": batch["plan"], "result": results}
