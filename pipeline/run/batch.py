"""The one batch core: planned documents in, each document's finished result out the moment it is done.

Contract: `stream(outcomes, engine, info, checklist, config)` yields (DocResult, Outcome) once per input
outcome, in the order documents finish (not the input order). Every caller — the plain runner, the
data-parallel engine behind it, the Ray actors and `eval` (through the runner) — goes through it, so they give
the same results. For each document:

    requests submitted to the engine (its tasks adjacent) ─ replies in ─ parse item by item + cite
    (`assemble`) ─ reduce over windows of every reduce task (`Reduction`, its requests submitted as the
    map replies are in; the merged items' claims checked again against the pages) ─ the result yielded

Documents are taken from `outcomes` only while fewer than `config.batch_documents` are in flight, so the
engine is kept fed without a batch barrier: a finished document makes room for the next one. A document
whose preparation failed is yielded at once. Parse + cite (`assemble`) of the documents whose replies came
in with one `collect` runs in an `Assembler` — `assemble_jobs` worker processes side by side, or inline
when 0 or 1; the result is the same either way — while the engine goes on with the requests it has (the
50 documents of a batch that finish together are parsed in parallel, not one after another while the GPU
idles). Anything that goes wrong for one document in parse, cite,
merge or reduce (any exception) gives that document a `failed` result with its cause; the others go on.
Only an `EngineError` (the engine cannot work at all) ends the stream. Once `stop` is set no new document
is taken; those in flight are finished.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, wait
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import RunConfig
from pipeline.engines.base import Engine
from pipeline.merge.assemble import assemble
from pipeline.merge.reduce import Reduction, needs_reduce
from pipeline.models import ChecklistItem, Completion, DocResult, EngineInfo, Plan, Request
from pipeline.plan.tokens import Tokenizer, load_tokenizer, tokenizer_dir
from pipeline.run.assembler import Assembled, Assembler

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What the runner knows of one input file: its plan, or the failed result that replaces it."""

    path: Path
    sha256: str | None = None
    plan: Plan | None = None
    failure: DocResult | None = None
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class _Doc:
    """One document in flight: the requests it waits for and what came back."""

    outcome: Outcome
    waiting: set[str]
    answers: dict[str, Completion] = field(default_factory=dict)
    reduction: Reduction | None = None
    submitted_at: float = field(default_factory=time.perf_counter)


Failed = Callable[[Outcome, str, str, str], DocResult]  # (outcome, stage, kind, message) → a failed result


class _Core:
    """The state of one stream: documents in flight, which request belongs to which."""

    def __init__(self, engine: Engine, info: EngineInfo, checklist: Sequence[ChecklistItem], config: RunConfig,
                 failed: Failed, assembler: Assembler) -> None:
        self.engine, self.info, self.checklist, self.config, self.failed = engine, info, checklist, config, failed
        self.assembler = assembler
        self.owner: dict[str, _Doc] = {}  # request id → its document, while the engine has the request
        self.assembling: dict[Future[Assembled], _Doc] = {}  # documents being parsed and cited
        self.in_flight = 0
        self._tokenizer: Tokenizer | None = None

    def start(self, outcome: Outcome) -> DocResult | None:
        """Submit a planned document's requests; a document with nothing to ask is done at once."""
        if outcome.plan is None:
            return outcome.failure or self.failed(outcome, "plan", "Error", "no plan")
        doc = _Doc(outcome, set())
        self.in_flight += 1
        if not outcome.plan.requests:
            self._assemble(doc)
            return None
        self._submit(doc, outcome.plan.requests)
        return None

    def take(self, completion: Completion) -> tuple[DocResult, Outcome] | None:
        """Record one completion; the document's result when that was the last request it waited for."""
        doc = self.owner.pop(completion.request_id, None)
        if doc is None:
            log.warning("%s: a completion for no request in flight, ignored", completion.request_id)
            return None
        doc.answers[completion.request_id] = completion
        doc.waiting.discard(completion.request_id)
        if doc.waiting:
            return None
        if doc.reduction is None:  # the map replies are in: parse and cite them beside the engine
            self._assemble(doc)
            return None
        result = self._advance(doc, None)
        return None if result is None else (self._done(doc, result), doc.outcome)

    def assembled(self) -> list[tuple[DocResult, Outcome]]:
        """Wait for every document being parsed and cited, and take each a step further: its result, or its
        reduce requests sent. The engine is not idle meanwhile: vLLM's engine core is a process of its own,
        and a server engine's senders are threads, so both go on with the requests they have."""
        wait(list(self.assembling))
        results = []
        for future, doc in list(self.assembling.items()):  # insertion order: the order replies came in
            del self.assembling[future]
            result = self._advance(doc, future)
            if result is not None:
                results.append((self._done(doc, result), doc.outcome))
        return results

    def _assemble(self, doc: _Doc) -> None:
        plan = doc.outcome.plan
        assert plan is not None
        doc.outcome.seconds["engine"] = time.perf_counter() - doc.submitted_at  # submitted → last map reply
        future = self.assembler.submit(plan, self._replies(doc), self.info, self.checklist, self.config.summary_points)
        self.assembling[future] = doc

    def abandon(self, why: str) -> list[tuple[DocResult, Outcome]]:
        """Every document still in flight, failed with `why` (the engine returned nothing more)."""
        docs = list({id(d): d for d in self.owner.values()}.values())
        self.owner.clear()
        return [(self._done(d, self.failed(d.outcome, "engine", "Missing", why)), d.outcome) for d in docs]

    def _submit(self, doc: _Doc, requests: Sequence[Request]) -> None:
        for request in requests:
            self.owner[request.request_id] = doc
            doc.waiting.add(request.request_id)
        self.engine.submit(requests)

    def _advance(self, doc: _Doc, assembled: Future[Assembled] | None) -> DocResult | None:
        """The document's next step once its map replies are parsed (`assembled`) or its reduce replies are in:
        the result, or None (reduce requests sent)."""
        stage = "reduce" if doc.reduction else "assemble"
        try:
            if assembled is not None:
                result = self._assembled(doc, assembled)
                if not needs_reduce(result):
                    return result
                stage = "reduce"
                pages = doc.outcome.plan.document.pages if doc.outcome.plan else None
                doc.reduction = Reduction(result, self.tokenizer(), self.config, pages)
                requests = doc.reduction.advance()
            else:
                assert doc.reduction is not None
                requests = doc.reduction.advance(doc.answers)
            if requests:
                self._submit(doc, requests)
                return None
            return doc.reduction.result()
        except Exception as exc:  # noqa: BLE001 - one document's failure, whatever it is, is that document's
            log.debug("%s: %s failed", doc.outcome.path, stage, exc_info=True)
            return self.failed(doc.outcome, stage, type(exc).__name__, f"unexpected error: {exc}")

    def _replies(self, doc: _Doc) -> list[Completion]:
        plan = doc.outcome.plan
        assert plan is not None
        return [doc.answers.get(r.request_id) or _missing(r) for r in plan.requests]

    def _assembled(self, doc: _Doc, future: Future[Assembled]) -> DocResult:
        result, seconds = self.assembler.result(future)
        doc.outcome.seconds["assemble"] = seconds
        update: dict[str, object] = {"seconds": dict(doc.outcome.seconds)}
        if self.config.save_reasoning:
            update["reasoning"] = {c.request_id: c.reasoning for c in self._replies(doc) if c.reasoning}
        return result.model_copy(update=update)

    def _done(self, doc: _Doc, result: DocResult) -> DocResult:
        self.in_flight -= 1
        return result

    def tokenizer(self) -> Tokenizer:
        """The reduce step's tokenizer, loaded at the first document that needs it."""
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(tokenizer_dir(self.config.model, self.config.tokenizer))
        return self._tokenizer


def stream(
    outcomes: Iterable[Outcome], engine: Engine, info: EngineInfo, checklist: Sequence[ChecklistItem],
    config: RunConfig, failed: Failed, stop: Callable[[], bool] = lambda: False,
    ready: Callable[[], bool] = lambda: True, assemble_jobs: int = 0,
) -> Iterator[tuple[DocResult, Outcome]]:
    """Each document's result as soon as it is done; see the module docstring. `ready()` says whether the
    next outcome can be taken without waiting: while documents are in flight the core collects replies
    instead of waiting for the next document to be read. `assemble_jobs`: worker processes for parse + cite
    (0 or 1: in this thread)."""
    assembler = Assembler(assemble_jobs)
    try:
        yield from _stream(_Core(engine, info, checklist, config, failed, assembler), outcomes, stop, ready)
    finally:
        assembler.close()


def _stream(core: _Core, outcomes: Iterable[Outcome], stop: Callable[[], bool],
            ready: Callable[[], bool]) -> Iterator[tuple[DocResult, Outcome]]:
    source, more = iter(outcomes), True
    limit = max(1, core.config.batch_documents)
    while True:
        while more and core.in_flight < limit and not stop() and (core.in_flight == 0 or ready()):
            outcome = next(source, None)
            if outcome is None:
                more = False
            elif (result := core.start(outcome)) is not None:
                yield result, outcome
        if core.in_flight == 0:  # none taken: the source is done, or a stop was asked
            return
        if core.assembling:
            # Parsed and cited side by side in the worker processes; written before the engine is stepped
            # again, so that a result never waits behind a long engine step (a switch to YaRN: a minute).
            yield from core.assembled()
            continue  # room for more documents
        if not core.owner:  # every document in flight is in the engine or being parsed; never wait on nothing
            log.error("%d documents in flight, none in the engine or being parsed", core.in_flight)
            return
        completions = core.engine.collect()
        if not completions:  # requests in flight, but the engine has none: it lost them
            yield from core.abandon("the engine returned no completion for this document's requests")
            continue
        for completion in completions:
            if (done := core.take(completion)) is not None:
                yield done


def _missing(request: Request) -> Completion:
    return Completion(request_id=request.request_id, error="the engine returned no completion for this request")

