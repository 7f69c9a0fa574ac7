"""The runner: drives ingest → plan → engine → assemble → render over a set of PDFs.

Contract: `run(inputs, output, config)` processes every PDF found, in batches of
`config.batch_documents`, writes each document's result as soon as its batch is done, and returns the
RunReport (also written to `OUT/run_report.json`), then rebuilds the review report and exports of `output`
(`review.write_review`). A document that fails at any stage gets a `failed`
result with its cause; the others go on. The engine is created only when there is work for it.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pipeline.assemble import assemble
from pipeline.checklist import load_checklist
from pipeline.config import RunConfig
from pipeline.engines.base import Engine, create_engine, engine_info, open_for_planning
from pipeline.errors import ConfigError, PipelineError
from pipeline.ingest import DOC_ID_LENGTH, file_sha256, find_pdfs
from pipeline.ingest_worker import DocumentReader
from pipeline.models import (
    ChecklistItem, Completion, DocError, DocReport, DocResult, EngineInfo, Plan, Request, RunReport, Source,
)
from pipeline.plan import plan_document
from pipeline.prompts import template_hashes
from pipeline.reduce import reduce_summaries
from pipeline.render import write_result, write_run_report
from pipeline.review import write_review
from pipeline.sanitize import path_text
from pipeline.tokens import Tokenizer, load_tokenizer, tokenizer_dir

log = logging.getLogger(__name__)

ROUTE_ORDER = {"whole": 0, "whole_yarn": 1, "windows": 2}
Progress = Callable[[DocResult], None]


@dataclass
class _Outcome:
    """What the runner knows of one input file while its batch is in flight."""

    path: Path
    plan: Plan | None = None
    failure: DocResult | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def run(
    inputs: Sequence[Path], output: Path, config: RunConfig, engine: Engine | None = None,
    on_result: Progress | None = None,
) -> RunReport:
    """Process every PDF under `inputs`; see the module docstring."""
    started = datetime.now(timezone.utc)
    missing = [str(p) for p in inputs if not p.exists()]
    if missing:
        raise ConfigError(f"input not found: {', '.join(missing)}")
    paths = find_pdfs(inputs, config.follow_symlinks)
    checklist = load_checklist(config.checklist) if "clauses" in config.tasks else ()
    tokenizer = load_tokenizer(tokenizer_dir(config.model, config.tokenizer))
    output.mkdir(parents=True, exist_ok=True)
    reports: list[DocReport] = []
    info = EngineInfo(name=config.engine, model=config.model)
    reader = DocumentReader(config)
    try:
        engine, config = open_for_planning(config, engine)  # a server's context length caps the routes
        for batch in _batches(paths, config.batch_documents):
            outcomes = [_prepare(path, reader, config, tokenizer, checklist, info) for path in batch]
            if engine is None and any(o.plan for o in outcomes):
                engine = create_engine(config)
            if engine is not None:
                info = engine_info(engine)
            for result, outcome in _execute(outcomes, engine, info, checklist, config, tokenizer):
                write_result(output, result, outcome.plan.document if outcome.plan else None)
                reports.append(doc_report(result, outcome))
                if on_result:
                    on_result(result)
    finally:
        reader.close()
        if engine is not None:
            engine.close()
    report = RunReport(
        started_at=started.isoformat(), finished_at=datetime.now(timezone.utc).isoformat(), engine=info,
        tasks=config.tasks, prompt_hashes=template_hashes(), documents=tuple(reports), totals=totals(reports),
    )
    write_run_report(output, report)
    write_review(output)
    return report


def _batches(paths: Sequence[Path], size: int) -> Iterator[Sequence[Path]]:
    for start in range(0, len(paths), max(1, size)):
        yield paths[start : start + size]


def _prepare(
    path: Path, reader: DocumentReader, config: RunConfig, tokenizer: Tokenizer,
    checklist: Sequence[ChecklistItem], info: EngineInfo,
) -> _Outcome:
    """Ingest and plan one file; a failure becomes the outcome's failed result."""
    outcome = _Outcome(path=path)
    stage = "ingest"
    try:
        t0 = time.perf_counter()
        document = reader.read(path)
        t1 = time.perf_counter()
        stage = "plan"
        outcome.plan = plan_document(document, config, tokenizer, checklist)
        outcome.seconds = {"ingest": t1 - t0, "plan": time.perf_counter() - t1}
    except PipelineError as exc:
        log.warning("%s: %s failed: %s", path, stage, exc)
        outcome.failure = failed_result(path, stage, type(exc).__name__, str(exc), info)
    return outcome


def _execute(
    outcomes: list[_Outcome], engine: Engine | None, info: EngineInfo, checklist: Sequence[ChecklistItem],
    config: RunConfig, tokenizer: Tokenizer,
) -> Iterator[tuple[DocResult, _Outcome]]:
    """The batch's map round (one engine call), then its reduce rounds (windowed documents only)."""
    done = list(_map(outcomes, engine, info, checklist, config))
    reduced = reduce_summaries([result for result, _ in done], engine, tokenizer, config)
    yield from zip(reduced, [outcome for _, outcome in done], strict=True)


def _map(
    outcomes: list[_Outcome], engine: Engine | None, info: EngineInfo, checklist: Sequence[ChecklistItem],
    config: RunConfig,
) -> Iterator[tuple[DocResult, _Outcome]]:
    requests = order_requests([o.plan for o in outcomes if o.plan])
    completions: dict[str, Completion] = {}
    engine_seconds, all_tokens = 0.0, 1
    if requests and engine is not None:
        t0 = time.perf_counter()
        completions = {c.request_id: c for c in engine.generate(requests)}
        engine_seconds = time.perf_counter() - t0
        all_tokens = sum(r.prompt_tokens for r in requests) or 1
    for outcome in outcomes:
        if outcome.failure is not None or outcome.plan is None:
            yield outcome.failure or failed_result(outcome.path, "plan", "Error", "no plan", info), outcome
            continue
        plan = outcome.plan
        mine = [completions.get(r.request_id) or _missing(r) for r in plan.requests]
        # The batch's engine time, shared out by prompt tokens (what dominates prefill cost).
        share = sum(r.prompt_tokens for r in plan.requests) / all_tokens
        outcome.seconds["engine"] = engine_seconds * share
        t0 = time.perf_counter()
        result = assemble(plan, mine, info, checklist, config.summary_points)
        outcome.seconds["assemble"] = time.perf_counter() - t0
        update: dict[str, object] = {"seconds": dict(outcome.seconds)}
        if config.save_reasoning:
            update["reasoning"] = {c.request_id: c.reasoning for c in mine if c.reasoning}
        yield result.model_copy(update=update), outcome


def plan_inputs(inputs: Sequence[Path], config: RunConfig) -> list[Plan | DocResult]:
    """Ingest and plan every PDF under `inputs` without any engine: a Plan, or a failed DocResult."""
    checklist = load_checklist(config.checklist) if "clauses" in config.tasks else ()
    tokenizer = load_tokenizer(tokenizer_dir(config.model, config.tokenizer))
    info = EngineInfo(name="none")
    with DocumentReader(config) as reader:
        paths = find_pdfs(inputs, config.follow_symlinks)
        outcomes = [_prepare(path, reader, config, tokenizer, checklist, info) for path in paths]
    return [o.plan or o.failure for o in outcomes if (o.plan or o.failure) is not None]  # type: ignore[misc]


def order_requests(plans: Sequence[Plan]) -> list[Request]:
    """Group by route, longest documents first within a route, each document's tasks adjacent (so the
    second task finds the first one's prefix still cached)."""
    ordered = sorted(plans, key=lambda p: (ROUTE_ORDER[p.route.kind], -p.route.prompt_tokens, p.document.doc_id))
    return [request for plan in ordered for request in plan.requests]


def _missing(request: Request) -> Completion:
    return Completion(request_id=request.request_id, error="the engine returned no completion for this request")


def failed_result(path: Path, stage: str, kind: str, message: str, info: EngineInfo) -> DocResult:
    """A `failed` DocResult for a file that could not be processed (its source recorded when readable)."""
    try:
        sha, size = file_sha256(path), path.stat().st_size
    except OSError:
        sha, size = "", 0
    doc_id = sha[:DOC_ID_LENGTH] or "path-" + hashlib.sha256(
        str(path).encode("utf-8", "surrogateescape")).hexdigest()[: DOC_ID_LENGTH - 5]
    source = Source(path=path_text(path), sha256=sha, page_count=0, size_bytes=size)
    error = DocError(stage=stage, kind=kind, message=f"{path_text(path.name)}: {message}")
    return DocResult(doc_id=doc_id, status="failed", source=source, route=None, engine=info, errors=(error,))


def doc_report(result: DocResult, outcome: _Outcome) -> DocReport:
    counts = {"verified": 0, "relocated": 0, "unverified": 0}
    for citation in [p.citation for p in result.summary] + [c.citation for c in result.clauses]:
        counts[citation.status] += 1
    route = result.route
    return DocReport(
        doc_id=result.doc_id, path=path_text(outcome.path), status=result.status,
        route=route.kind if route else None, prompt_tokens=route.prompt_tokens if route else None,
        output_tokens=result.usage.get("output_tokens"), windows=len(route.windows) if route else 0,
        window_spans=route.windows if route else (),
        reduce_depth=route.reduce_depth if route else 0, seconds=result.seconds, citations=counts,
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
    out["citations_found_ratio"] = (out["citations_verified"] + out["citations_relocated"]) / cited if cited else 1.0
    return out
