"""Stages ingest + plan for many documents at once, ahead of the engine.

Contract: `Preparer(config, checklist)` reads and plans PDFs in `config.jobs` worker processes (default: the
cores this process may use), each a `DocumentReader` with its own tokenizer, so one read, one extraction and
one count of each document happen in parallel and outside the process that drives the engine.
`prepare(items)` takes (path, sha256 or None) pairs and yields one `Prepared` per pair, in input order. It keeps
at most `ahead` documents submitted but not yet taken (default `config.batch_documents`): the next batch is read
and planned while the caller runs the engine on the current one, and memory stays bounded by two batches. A
document that fails is a `Prepared` with its `error` (stage, kind, message); the others go on. `close()` (or
leaving the `with` block) kills the workers at once, abandoning what they were doing.
"""

from __future__ import annotations

import itertools
import os
import queue
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from pipeline.config import RunConfig
from pipeline.run.reader import DocumentReader, PrepareError
from pipeline.models import ChecklistItem, Plan


@dataclass
class Prepared:
    """One document after ingest and plan: its plan, or the error that stopped it."""

    path: Path
    sha256: str | None
    plan: Plan | None = None
    error: tuple[str, str, str] | None = None  # (stage, exception kind, message)
    seconds: dict[str, float] = field(default_factory=dict)


def prepare_one(
    reader: DocumentReader, path: Path, sha256: str | None, checklist: Sequence[ChecklistItem]
) -> Prepared:
    """One document read and planned by `reader`: its Prepared, with the error of the stage that failed."""
    try:
        plan, seconds = reader.prepare(path, sha256, checklist)
        return Prepared(path, plan.document.source.sha256, plan=plan, seconds=seconds)
    except PrepareError as exc:
        return Prepared(path, sha256, error=(exc.stage, type(exc.error).__name__, str(exc.error)))


def default_jobs() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class Preparer:
    """A pool of reader processes, each used by one thread at a time (threads only wait on pipes)."""

    def __init__(self, config: RunConfig, checklist: Sequence[ChecklistItem], ahead: int | None = None) -> None:
        # Without a worker process (--ingest-timeout 0) everything runs here: one at a time.
        self.jobs = (config.jobs or default_jobs()) if config.ingest_timeout else 1
        self.ahead = max(self.jobs, ahead or config.batch_documents)
        self.checklist = tuple(checklist)
        self._readers = [DocumentReader(config) for _ in range(self.jobs)]
        self._idle: queue.SimpleQueue[DocumentReader] = queue.SimpleQueue()
        for reader in self._readers:
            self._idle.put(reader)
        self._threads = ThreadPoolExecutor(self.jobs, thread_name_prefix="docpipe-prepare")
        self._closed = False

    def prepare(self, items: Iterable[tuple[Path, str | None]]) -> Iterator[Prepared]:
        """`Prepared` documents in the order of `items`; see the module docstring. The first `ahead` are
        submitted before this returns: reading starts at once, while the caller does other things."""
        source = iter(items)
        pending: deque[Future[Prepared]] = deque(
            self._threads.submit(self._one, *item) for item in itertools.islice(source, self.ahead))
        self._pending = pending
        return self._in_order(pending, source)

    def ready(self) -> bool:
        """Whether taking the next Prepared would not wait (it is done, or there is none)."""
        pending = getattr(self, "_pending", None)
        return not pending or pending[0].done()

    def _in_order(
        self, pending: deque[Future[Prepared]], source: Iterator[tuple[Path, str | None]]
    ) -> Iterator[Prepared]:
        while pending:
            done = pending.popleft().result()
            following = next(source, None)
            if following is not None:
                pending.append(self._threads.submit(self._one, *following))
            yield done

    def _one(self, path: Path, sha256: str | None) -> Prepared:
        if self._closed:  # started between close's kill and its cancel: start no new worker
            return Prepared(path, sha256, error=("ingest", "Abandoned", "the run stopped first"))
        reader = self._idle.get()
        try:
            return prepare_one(reader, path, sha256, self.checklist)
        finally:
            self._idle.put(reader)

    def close(self) -> None:
        self._closed = True
        for reader in self._readers:
            reader.abort()  # a thread waiting on a killed worker returns at once
        self._threads.shutdown(wait=True, cancel_futures=True)
        for reader in self._readers:
            reader.close()

    def __enter__(self) -> Preparer:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
