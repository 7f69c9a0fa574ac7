"""Stage reduce (windows route): the items of a document's windows → one list, for every task with
merge = "reduce" (the built-in summary's points, and the items of task files' free-text tasks).

Contract: `reduce_summaries(results, engine, tokenizer, config)` returns `results` in the same order. A
result of the windows route with more than one window has the items of each reduce task (the window items,
cited by the map step) merged by the engine into at most that task's limit (the summary:
`config.summary_points`; a task file's: its `max_items`), one task's items per request. The engine sees the
items under ids and answers with ids (`ReduceSummaryReply`, for every task); each merged item takes the
citation — quote, page, offsets, as located by `cite` — of the first id it names that exists, so the model
never writes a page number. A summary point becomes the reply's text with that citation; a task item is the
named item with its `text_field` replaced by the reply's text (its other values rest on that same quote). An
id that names no item it was given is an error of the document (stage `reduce`), never a citation; a reply
item naming no valid id is left out.

When the items do not fit one prompt (exact count against `window_budget`), they are reduced in groups,
then the groups' items again, until one prompt holds them all: `Route.reduce_depth` counts the rounds (the
most of any task). A reduce request that fails is recorded and its group keeps evenly spaced items of its
own (nothing invented; the reduce still ends). Requests are built by the one request constructor
(`plan.requests`), task name `reduce_<task>`: the thinking mode and reply room (the reduced task's) their
counts assume are the ones sent.

`Reduction` is one document's reduce as a state machine, for the streaming core: `advance(completions)` takes
the current round's completions and gives the next round's requests, every reduce task's ([] once done);
`result()` is the reduced DocResult — given the document's `pages`, with the claims of the merged items
checked again (the text is the model's new words: `cite.facts.check_points`, `task_items.check_items`);
without them merged summary points are left unchecked (`claim_check` None). `reduce_summaries` drives it for
a batch (each round one `engine.generate` call).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from pipeline.cite.facts import check_points
from pipeline.config import RunConfig
from pipeline.engines.base import Engine
from pipeline.merge.items import parse_items
from pipeline.merge.task_items import check_items
from pipeline.models import (
    Citation, Completion, DocError, DocResult, Message, Page, PointRef, Request, SummaryPoint, TaskItem,
)
from pipeline.plan.packing import pack
from pipeline.plan.prompts import render_template, system_message
from pipeline.plan.requests import make_request
from pipeline.plan.routes import window_budget
from pipeline.plan.tokens import Tokenizer
from pipeline.tasks.registry import TaskDef, reduce_task, task_named
from pipeline.tasks.responses import ReduceSummaryReply, ReplyError, reduce_schema

TEMPLATE = "reduce_summary.j2"  # every reduce task's prompt (the summary's wording kept as it was)
MAX_DEPTH = 8  # rounds after which a reduce that is not converging stops (each round must shrink the points)

Unit = SummaryPoint | TaskItem  # what one task's reduce merges: summary points, or a task file's items


@dataclass(frozen=True)
class _Job:
    group: list[Unit]
    request: Request | None  # None: a lone item too long for any prompt passes through unmerged


@dataclass
class _Part:
    """One task's reduce within a document's: its items this round, and the round in flight."""

    task: TaskDef
    points: list[Unit]
    limit: int  # at most this many items in the end
    depth: int = 0
    done: bool = False
    jobs: list[_Job] | None = field(default=None)


def _reducible(result: DocResult, config: RunConfig) -> Iterator[_Part]:
    """The reduce of each task of `result` whose items merge by the reduce (the summary first)."""
    if result.summary:
        yield _Part(task_named("summary"), list(result.summary), config.summary_points)
    for name, items in result.extractions.items():
        task = task_named(name)
        if task.merge == "reduce" and items:
            yield _Part(task, list(items), task.max_items)


def needs_reduce(result: DocResult) -> bool:
    """Whether `result` is of the windows route, more than one window, with items of a reduce task."""
    route = result.route
    if route is None or route.kind != "windows" or len(route.windows) <= 1:
        return False
    return bool(result.summary) or any(items and task_named(name).merge == "reduce"
                                       for name, items in result.extractions.items())


class Reduction:
    """One document's reduce in progress, every reduce task's; see the module docstring."""

    def __init__(self, result: DocResult, tokenizer: Tokenizer, config: RunConfig,
                 pages: Sequence[Page] | None = None) -> None:
        self.start, self.tokenizer, self.config, self.pages = result, tokenizer, config, pages
        self.parts = list(_reducible(result, config))
        self.errors: list[DocError] = []
        self.completions: list[Completion] = []

    def advance(self, completions: Mapping[str, Completion] | None = None) -> list[Request]:
        """Take the rounds in flight's completions (a missing one counts as failed) and return the next
        rounds' requests; [] when every task's reduce is done. The first call (no round in flight) starts
        round 1."""
        return [request for part in self.parts for request in _advance(self, part, completions)]

    def result(self) -> DocResult:
        """The reduced result (call once `advance` returned [])."""
        return _finish(self)


def reduce_summaries(
    results: Sequence[DocResult], engine: Engine | None, tokenizer: Tokenizer, config: RunConfig
) -> list[DocResult]:
    """Merge the window items of every windowed result of a batch, every reduce task's; each round is one
    `generate` call for every document still reducing."""
    states = {i: Reduction(r, tokenizer, config) for i, r in enumerate(results) if needs_reduce(r)}
    if engine is None:
        return list(results)
    pending = {i: state.advance() for i, state in states.items()}
    while any(pending.values()):
        requests = [r for i in sorted(pending) for r in pending[i]]
        answers = {c.request_id: c for c in engine.generate(requests)}
        pending = {i: states[i].advance(answers) for i, reqs in pending.items() if reqs}
    return [states[i].result() if i in states else r for i, r in enumerate(results)]


def _advance(state: Reduction, part: _Part, completions: Mapping[str, Completion] | None) -> list[Request]:
    """One task's next round's requests, after taking its round in flight's completions; [] once done."""
    while not part.done:
        if part.jobs is None:
            part.jobs = _jobs(state, part)
            requests = [job.request for job in part.jobs if job.request is not None]
            if requests:
                return requests
        merged: list[Unit] = []
        for job in part.jobs:
            completion = None
            if job.request is not None:
                completion = (completions or {}).get(job.request.request_id) or Completion(
                    request_id=job.request.request_id, error="the engine returned no completion for this request")
                state.completions.append(completion)
            merged.extend(_merge(state, part, job, completion))
        _next_round(state, part, merged, len(part.jobs))
        part.jobs, completions = None, None
    return []


def _jobs(state: Reduction, part: _Part) -> list[_Job]:
    """This round's groups of the task's items, each packed to fit one prompt by exact count."""
    tokenizer, config = state.tokenizer, state.config
    refs = [_ref(f"P{k}", part, point) for k, point in enumerate(part.points, start=1)]
    budget = window_budget(config)
    base = _request(state, part, refs[:0], 0)
    room = budget - base.prompt_tokens - base.max_tokens
    costs = [tokenizer.count(f"[{r.id}] (page {r.page_number}) {r.text}\n    quote: {_shown(r)}\n") for r in refs]
    jobs: list[_Job] = []
    start = 0
    while start < len(refs):
        end, request = pack(costs, start, room, lambda a, b: _measure(state, part, refs[a:b], len(jobs)))
        if request is None:  # one item alone is over the budget: it passes this round unmerged
            end = start + 1
        jobs.append(_Job(part.points[start:end], request))
        start = end
    return jobs


def _shown(ref: PointRef) -> str:
    """The quote as the prompt shows it: not at all when the point is the quote (extractive points)."""
    return "" if ref.quote.split() == ref.text.split() else ref.quote


def _citation(point: Unit) -> Citation:
    citation = point.citation
    assert citation is not None  # items = "many" (every reduce task's): each item has its quote located
    return citation


def _text(part: _Part, point: Unit) -> str:
    """The free text the reduce merges: a point's text, an item's `text_field` (its quote when left out)."""
    if isinstance(point, SummaryPoint):
        return point.text
    value = point.values.get(part.task.text_field or "")
    return str(value) if value not in (None, "") else _citation(point).quote


def _ref(point_id: str, part: _Part, point: Unit) -> PointRef:
    citation = _citation(point)
    return PointRef(id=point_id, text=_text(part, point), quote=citation.quote, page_number=citation.page_number)


def _measure(state: Reduction, part: _Part, refs: Sequence[PointRef], group: int) -> tuple[int, Request]:
    request = _request(state, part, refs, group)
    return request.prompt_tokens + request.max_tokens - window_budget(state.config), request


def _request(state: Reduction, part: _Part, refs: Sequence[PointRef], group: int) -> Request:
    result, task = state.start, reduce_task(part.task.name)
    page_count = result.source.page_count if result.source else 0
    user = render_template(TEMPLATE, items=refs, page_count=page_count, n_points=part.limit, task=part.task)
    messages = (system_message(), Message(role="user", content=user))
    return make_request(
        state.config, request_id=f"{result.doc_id}:{task}:r{part.depth + 1}g{group}", doc_id=result.doc_id,
        task=task, route="windows", messages=messages, tokenizer=state.tokenizer, items=tuple(refs),
        schema=reduce_schema([ref.id for ref in refs]),
    )


def _merge(state: Reduction, part: _Part, job: _Job, completion: Completion | None) -> list[Unit]:
    """The group's merged items: each reply item with the citation of the first valid id it names."""
    if job.request is None or completion is None:
        return job.group
    where = f"round {part.depth + 1}, {job.request.request_id}"
    reply = _parse(completion, where, state.errors)
    if reply is None:
        return _spaced(job.group, part.limit)
    by_id = {_clean(ref.id): point for ref, point in zip(job.request.items, job.group, strict=True)}
    merged: list[Unit] = []
    for item in reply.points[: part.limit]:
        known = [by_id[_clean(i)] for i in item.ids if _clean(i) in by_id]
        for unknown in [i for i in item.ids if _clean(i) not in by_id]:
            state.errors.append(DocError(
                stage="reduce", kind="unknown_id",
                message=f"{where}: point {item.point[:80]!r} names id {unknown!r}, which is not among the points "
                        f"it was given; " + ("that id is ignored" if known else "the point is left out")))
        if known:
            merged.append(_rewritten(part, known[0], item.point))
    return merged


def _rewritten(part: _Part, point: Unit, text: str) -> Unit:
    """`point` (the first item a reply item names) with the reply's text: its citation is kept, its claim
    check is not (the text is new; `Reduction.result` checks again)."""
    if isinstance(point, SummaryPoint):
        return SummaryPoint(text=text, citation=point.citation)
    name = part.task.text_field or ""
    return point.model_copy(update={"values": {**point.values, name: text},
                                    "unsupported": tuple(n for n in point.unsupported if n != name)})


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


def _next_round(state: Reduction, part: _Part, merged: list[Unit], groups: int) -> None:
    """After a round: done when it was one group; else the merged items are the next round's input."""
    part.depth += 1
    if groups <= 1:
        part.points, part.done = merged[: part.limit], True
    elif len(merged) >= len(part.points) or part.depth >= MAX_DEPTH:
        state.errors.append(DocError(stage="reduce", kind="not_converging",
                                     message=f"round {part.depth}: {len(merged)} points left, too many for one "
                                             f"prompt; keeping {part.limit} evenly spaced ones"))
        part.points, part.done = _spaced(merged, part.limit), True
    else:
        part.points = merged


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
    depth = max((part.depth for part in state.parts), default=0)
    route = result.route.model_copy(update={"reduce_depth": depth}) if result.route else None
    status = "partial" if state.errors and result.status == "ok" else result.status
    return result.model_copy(update={
        **_reduced_items(state), "route": route, "status": status, "usage": usage,
        "errors": result.errors + tuple(state.errors),
        "seconds": {**result.seconds, "reduce": sum(c.seconds or 0.0 for c in state.completions)},
    })


def _reduced_items(state: Reduction) -> dict[str, object]:
    """`summary` and `extractions` as reduced, their claims checked again when the pages are known."""
    summary, extractions = state.start.summary, dict(state.start.extractions)
    pages = state.pages
    for part in state.parts:
        if part.task.name == "summary":
            points = tuple(p for p in part.points if isinstance(p, SummaryPoint))
            summary = check_points(points, pages) if pages is not None else points
        else:
            items = tuple(p for p in part.points if isinstance(p, TaskItem))
            extractions[part.task.name] = check_items(part.task, items, pages) if pages is not None else items
    return {"summary": summary, "extractions": extractions}


def _spaced(points: Sequence[Unit], n: int) -> list[Unit]:
    """At most `n` items, evenly spaced through `points` (document order kept)."""
    if len(points) <= n:
        return list(points)
    return [points[i * len(points) // n] for i in range(n)]


def _clean(point_id: str) -> str:
    """Ids as the model may write them: '[P3]', 'p3 ' → 'P3'."""
    return point_id.strip().strip("[]").strip().upper()
