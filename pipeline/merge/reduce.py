"""Stage reduce (windows route): the summary points of a document's windows → one summary.

Contract: `reduce_summaries(results, engine, tokenizer, config)` returns `results` in the same order. A
result of the windows route with more than one window has its summary (the window points, cited by the
map step) merged by the engine into at most `config.summary_points` points. The engine sees the points
under ids and answers with ids (`ReduceSummaryReply`); each merged point takes the citation — quote,
page, offsets, as located by `cite` — of the first id it names that exists, so the model never writes a
page number. An id that names no point it was given is an error of the document (stage `reduce`), never
a citation; a point naming no valid id is left out.

When the points do not fit one prompt (exact count against `window_budget`), they are reduced in groups,
then the groups' points again, until one prompt holds them all: `Route.reduce_depth` counts the rounds.
A reduce request that fails is recorded and its group keeps evenly spaced points of its own (nothing
invented; the reduce still ends). Requests are built by the one request constructor (`plan.requests`): the
thinking mode and reply room their counts assume are the ones sent.

`Reduction` is one document's reduce as a state machine, for the streaming core: `advance(completions)` takes
the current round's completions and gives the next round's requests ([] once done); `result()` is the
reduced DocResult. `reduce_summaries` drives it for a batch (each round one `engine.generate` call).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pipeline.config import RunConfig
from pipeline.engines.base import Engine
from pipeline.models import Completion, DocError, DocResult, Message, PointRef, Request, SummaryPoint
from pipeline.plan.packing import pack
from pipeline.plan.routes import window_budget
from pipeline.plan.prompts import render_template, system_message
from pipeline.merge.items import parse_items
from pipeline.plan.requests import make_request
from pipeline.tasks.responses import ReduceSummaryReply, ReplyError, reduce_schema
from pipeline.plan.tokens import Tokenizer

TASK = "reduce_summary"
MAX_DEPTH = 8  # rounds after which a reduce that is not converging stops (each round must shrink the points)


@dataclass(frozen=True)
class _Job:
    group: list[SummaryPoint]
    request: Request | None  # None: a lone point too long for any prompt passes through unmerged


def needs_reduce(result: DocResult) -> bool:
    route = result.route
    return route is not None and route.kind == "windows" and len(route.windows) > 1 and bool(result.summary)


class Reduction:
    """One document's summary reduce in progress; see the module docstring."""

    def __init__(self, result: DocResult, tokenizer: Tokenizer, config: RunConfig) -> None:
        self.start, self.tokenizer, self.config = result, tokenizer, config
        self.points: list[SummaryPoint] = list(result.summary)
        self.depth = 0
        self.done = False
        self.errors: list[DocError] = []
        self.completions: list[Completion] = []
        self._jobs: list[_Job] | None = None  # the round in flight

    def advance(self, completions: Mapping[str, Completion] | None = None) -> list[Request]:
        """Take the round in flight's completions (a missing one counts as failed) and return the next round's
        requests; [] when the reduce is done. The first call (no round in flight) starts round 1."""
        while not self.done:
            if self._jobs is None:
                self._jobs = _jobs(self, self.tokenizer, self.config)
                requests = [job.request for job in self._jobs if job.request is not None]
                if requests:
                    return requests
            merged: list[SummaryPoint] = []
            for job in self._jobs:
                completion = None
                if job.request is not None:
                    completion = (completions or {}).get(job.request.request_id) or Completion(
                        request_id=job.request.request_id, error="the engine returned no completion for this request")
                    self.completions.append(completion)
                merged.extend(_merge(self, job, completion, self.config))
            _next_round(self, merged, len(self._jobs), self.config)
            self._jobs, completions = None, None
        return []

    def result(self) -> DocResult:
        """The reduced result (call once `advance` returned [])."""
        return _finish(self)


def reduce_summaries(
    results: Sequence[DocResult], engine: Engine | None, tokenizer: Tokenizer, config: RunConfig
) -> list[DocResult]:
    """Merge the window summaries of every windowed result of a batch; each round is one `generate` call
    for every document still reducing."""
    states = {i: Reduction(r, tokenizer, config) for i, r in enumerate(results) if needs_reduce(r)}
    if engine is None:
        return list(results)
    pending = {i: state.advance() for i, state in states.items()}
    while any(pending.values()):
        requests = [r for i in sorted(pending) for r in pending[i]]
        answers = {c.request_id: c for c in engine.generate(requests)}
        pending = {i: states[i].advance(answers) for i, reqs in pending.items() if reqs}
    return [states[i].result() if i in states else r for i, r in enumerate(results)]


def _jobs(state: Reduction, tokenizer: Tokenizer, config: RunConfig) -> list[_Job]:
    """This round's groups of the document's points, each packed to fit one prompt by exact count."""
    refs = [_ref(f"P{k}", point) for k, point in enumerate(state.points, start=1)]
    budget = window_budget(config)
    base = _request(state, refs[:0], 0, tokenizer, config)
    room = budget - base.prompt_tokens - base.max_tokens
    costs = [tokenizer.count(f"[{r.id}] (page {r.page_number}) {r.text}\n    quote: {_shown(r)}\n") for r in refs]
    jobs: list[_Job] = []
    start = 0
    while start < len(refs):
        end, request = pack(costs, start, room, lambda a, b: _measure(state, refs[a:b], len(jobs), tokenizer, config))
        if request is None:  # one point alone is over the budget: it passes this round unmerged
            end = start + 1
        jobs.append(_Job(state.points[start:end], request))
        start = end
    return jobs


def _shown(ref: PointRef) -> str:
    """The quote as the prompt shows it: not at all when the point is the quote (extractive points)."""
    return "" if ref.quote.split() == ref.text.split() else ref.quote


def _ref(point_id: str, point: SummaryPoint) -> PointRef:
    return PointRef(id=point_id, text=point.text, quote=point.citation.quote, page_number=point.citation.page_number)


def _measure(
    state: Reduction, refs: Sequence[PointRef], group: int, tokenizer: Tokenizer, config: RunConfig
) -> tuple[int, Request]:
    request = _request(state, refs, group, tokenizer, config)
    return request.prompt_tokens + request.max_tokens - window_budget(config), request


def _request(state: Reduction, refs: Sequence[PointRef], group: int, tokenizer: Tokenizer, config: RunConfig) -> Request:
    result = state.start
    page_count = result.source.page_count if result.source else 0
    user = render_template(f"{TASK}.j2", items=refs, page_count=page_count, n_points=config.summary_points)
    messages = (system_message(), Message(role="user", content=user))
    return make_request(
        config, request_id=f"{result.doc_id}:{TASK}:r{state.depth + 1}g{group}", doc_id=result.doc_id, task=TASK,
        route="windows", messages=messages, tokenizer=tokenizer, items=tuple(refs),
        schema=reduce_schema([ref.id for ref in refs]),
    )


def _merge(state: Reduction, job: _Job, completion: Completion | None, config: RunConfig) -> list[SummaryPoint]:
    """The group's merged points: each reply point with the citation of the first valid id it names."""
    if job.request is None or completion is None:
        return job.group
    where = f"round {state.depth + 1}, {job.request.request_id}"
    reply = _parse(completion, where, state.errors)
    if reply is None:
        return _spaced(job.group, config.summary_points)
    by_id = {_clean(ref.id): point for ref, point in zip(job.request.items, job.group, strict=True)}
    merged: list[SummaryPoint] = []
    for item in reply.points[: config.summary_points]:
        known = [by_id[_clean(i)] for i in item.ids if _clean(i) in by_id]
        for unknown in [i for i in item.ids if _clean(i) not in by_id]:
            state.errors.append(DocError(
                stage="reduce", kind="unknown_id",
                message=f"{where}: point {item.point[:80]!r} names id {unknown!r}, which is not among the points "
                        f"it was given; " + ("that id is ignored" if known else "the point is left out")))
        if known:
            merged.append(SummaryPoint(text=item.point, citation=known[0].citation))
    return merged


def _parse(completion: Completion, where: str, errors: list[DocError]) -> ReduceSummaryReply | None:
    """The reply's valid points (an invalid point is left out and recorded), or None when it failed."""
    problem = None
    if completion.error:
        problem = ("request_failed", completion.error)
    elif completion.finish_reason not in (None, "stop"):
        problem = ("truncated", f"reply ended with finish_reason={completion.finish_reason}")
    else:
        try:
            items, problems = parse_items(ReduceSummaryReply, completion.text)
        except ReplyError as exc:
            problem = ("invalid_reply", str(exc))
        else:
            errors.extend(DocError(stage="reduce", kind="invalid_item", message=f"{where}: {p}") for p in problems)
            return ReduceSummaryReply(points=items)
    errors.append(DocError(stage="reduce", kind=problem[0],
                           message=f"{where}: {problem[1]}; the group keeps evenly spaced points of its own"))
    return None


def _next_round(state: Reduction, merged: list[SummaryPoint], groups: int, config: RunConfig) -> None:
    """After a round: done when it was one group; else the merged points are the next round's input."""
    state.depth += 1
    if groups <= 1:
        state.points, state.done = merged[: config.summary_points], True
    elif len(merged) >= len(state.points) or state.depth >= MAX_DEPTH:
        state.errors.append(DocError(stage="reduce", kind="not_converging",
                                     message=f"round {state.depth}: {len(merged)} points left, too many for one "
                                             f"prompt; keeping {config.summary_points} evenly spaced ones"))
        state.points, state.done = _spaced(merged, config.summary_points), True
    else:
        state.points = merged


def _finish(state: Reduction) -> DocResult:
    result = state.start
    usage = dict(result.usage)
    for key, values in (("prompt_tokens", [c.prompt_tokens for c in state.completions]),
                        ("output_tokens", [c.output_tokens for c in state.completions])):
        usage[key] = usage.get(key, 0) + sum(v or 0 for v in values)
    usage["requests"] = usage.get("requests", 0) + len(state.completions)
    # the reduce step's share of the totals above, so that the planned requests' share can be told apart
    usage["reduce_requests"] = len(state.completions)
    usage["reduce_prompt_tokens"] = sum(c.prompt_tokens or 0 for c in state.completions)
    route = result.route.model_copy(update={"reduce_depth": state.depth}) if result.route else None
    status = "partial" if state.errors and result.status == "ok" else result.status
    return result.model_copy(update={
        "summary": tuple(state.points), "route": route, "status": status, "usage": usage,
        "errors": result.errors + tuple(state.errors),
        "seconds": {**result.seconds, "reduce": sum(c.seconds or 0.0 for c in state.completions)},
    })


def _spaced(points: Sequence[SummaryPoint], n: int) -> list[SummaryPoint]:
    """At most `n` points, evenly spaced through `points` (document order kept)."""
    if len(points) <= n:
        return list(points)
    return [points[i * len(points) // n] for i in range(n)]


def _clean(point_id: str) -> str:
    """Ids as the model may write them: '[P3]', 'p3 ' → 'P3'."""
    return point_id.strip().strip("[]").strip().upper()
