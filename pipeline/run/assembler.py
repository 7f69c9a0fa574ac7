"""Parse + cite of finished documents beside the engine: a process pool, so the thread that feeds the engine
never waits for them (issue 16).

Contract: `Assembler(jobs)` runs `assemble(plan, completions, info, checklist, summary_points)` and hands back a
`Future` of (DocResult, seconds): in `jobs` spawned worker processes when `jobs > 1`, else at once in this
process (an already-finished Future), so callers handle both alike. The result is the same either way
(`assemble` is a pure function of its arguments). A worker that dies (killed for memory, a Ctrl-C that
reached it before it could ignore it) breaks the pool: that document and every later one are assembled in
this process instead, with a warning; no document is lost. Workers ignore SIGINT (the terminal's Ctrl-C
reaches the whole process group; the runner decides when to stop) and exit when this process does (their
job queue closes). They run at a lower priority (nice 10). `close()` stops them.

Why processes: citation checking of a noisy reply is pure Python (word alignment against the pages), up to a
few tenths of a second per document; on a GPU host 50 documents that finish together at the end of a batch
would otherwise be parsed one after another while the GPU idles.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Sequence
from concurrent.futures import BrokenExecutor, CancelledError, Future, ProcessPoolExecutor

from pipeline.merge.assemble import assemble
from pipeline.models import ChecklistItem, Completion, DocResult, EngineInfo, Plan

log = logging.getLogger(__name__)

Assembled = tuple[DocResult, float]  # the result, and the seconds `assemble` took


def assemble_timed(plan: Plan, completions: Sequence[Completion], info: EngineInfo,
                   checklist: Sequence[ChecklistItem], summary_points: int) -> Assembled:
    """`assemble`, timed where it runs (a worker's seconds are its own, not the wait for a free worker)."""
    t0 = time.perf_counter()
    result = assemble(plan, completions, info, checklist, summary_points)
    return result, time.perf_counter() - t0


def _background_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.nice(10)  # background work: the engine's own processes (scheduling, grammar masks) come first


class Assembler:
    """See the module docstring."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self._pool: ProcessPoolExecutor | None = None
        self._args: dict[Future[Assembled], tuple] = {}  # what each future was submitted with
        if jobs > 1:
            # spawn, not fork: the caller may hold threads and a CUDA context (vLLM), which a fork would copy
            self._pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_background_worker)
            for _ in range(jobs):  # start the workers now (their imports), not at the first finished document
                self._pool.submit(int)

    @property
    def pooled(self) -> bool:
        """Whether documents are assembled in worker processes (False after the pool broke)."""
        return self._pool is not None

    def submit(self, plan: Plan, completions: Sequence[Completion], info: EngineInfo,
               checklist: Sequence[ChecklistItem], summary_points: int) -> Future[Assembled]:
        args = (plan, tuple(completions), info, tuple(checklist), summary_points)
        future: Future[Assembled] | None = None
        if self._pool is not None:
            try:
                future = self._pool.submit(assemble_timed, *args)
            except (BrokenExecutor, RuntimeError) as exc:  # RuntimeError: submitted after shutdown
                self._broken(exc)
        if future is None:
            future = _now(assemble_timed, *args)
        self._args[future] = args  # kept until `result`, to assemble here should the worker die
        return future

    def result(self, future: Future[Assembled]) -> Assembled:
        """The future's result; when its worker died, the document assembled here instead. Any other
        exception (one document's own failure) is raised, for the caller to fail that document."""
        args = self._args.pop(future)
        try:
            return future.result()
        except (BrokenExecutor, CancelledError) as exc:  # cancelled: when another worker broke the pool
            self._broken(exc)
            return assemble_timed(*args)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _broken(self, exc: BaseException) -> None:
        if self._pool is not None:
            log.warning("the assembling processes stopped (%s): documents are parsed and cited in this "
                        "process from now on", exc)
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def _now(function, *args) -> Future[Assembled]:  # type: ignore[no-untyped-def]
    """A Future already holding `function(*args)`'s result or exception."""
    future: Future[Assembled] = Future()
    try:
        future.set_result(function(*args))
    except Exception as exc:  # noqa: BLE001 - the caller fails this one document with it
        future.set_exception(exc)
    return future
