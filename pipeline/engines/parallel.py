"""Data parallelism on one host: N engine workers, one per GPU (or per tensor-parallel group).

Contract: `DataParallelEngine(config, n)` starts n worker processes (multiprocessing *spawn*: a worker
inherits no CUDA state); worker i sees only its GPUs through `CUDA_VISIBLE_DEVICES` and builds its own engine
with `create_engine(config)` (or `factory(config)`). It streams: `submit(requests)` sends each document's
requests to one worker (prefix caching; a document's later requests, its reduce, follow it there), a new
document to the worker with the fewest prompt tokens outstanding; each worker submits to its own engine
and sends back completions as its engine finishes them, and `collect()` returns those of whichever worker
answers first — no worker waits for another. `generate(requests)` is the same, completions in input
order. A worker that dies fails only the requests it held (their Completions carry `error`); it is started
again at the next submit. Raises `EngineError` when no worker can start, or when a worker's engine raises one (it cannot
work at all), as a single engine would.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait

from pipeline.config import RunConfig
from pipeline.tasks.registry import load_tasks
from pipeline.engines.base import Engine, EngineDefaults, create_engine, engine_tasks, generate_streamed
from pipeline.errors import EngineError
from pipeline.models import Completion, Request

log = logging.getLogger(__name__)

EngineFactory = Callable[[RunConfig], Engine]


def assign(requests: Sequence[Request], workers: int, load: Sequence[int] = ()) -> list[list[int]]:
    """Indices of `requests` per worker: whole documents, heaviest first, each to the least-loaded worker
    (`load`: the tokens each already holds); a worker's indices keep their input order."""
    tokens: dict[str, int] = {}
    for request in requests:
        tokens[request.doc_id] = tokens.get(request.doc_id, 0) + request.prompt_tokens
    load = list(load) or [0] * workers
    owner: dict[str, int] = {}
    for doc_id in sorted(tokens, key=lambda d: (-tokens[d], d)):
        worker = min(range(workers), key=lambda w: (load[w], w))
        owner[doc_id] = worker
        load[worker] += tokens[doc_id]
    shares: list[list[int]] = [[] for _ in range(workers)]
    for index, request in enumerate(requests):
        shares[owner[request.doc_id]].append(index)
    return shares


def single(config: RunConfig) -> RunConfig:
    """`config` for one worker: the same run, one engine."""
    settings = config.engine_settings.model_copy(update={"data_parallel_size": 1})
    return config.model_copy(update={"engine_settings": settings})


def worker_devices(index: int, per_worker: int, visible: str | None) -> str:
    """The CUDA_VISIBLE_DEVICES of worker `index`: its `per_worker` GPUs among those this process sees."""
    devices = [d.strip() for d in visible.split(",") if d.strip()] if visible else []
    wanted = range(index * per_worker, (index + 1) * per_worker)
    return ",".join(devices[i] if i < len(devices) else str(i) for i in wanted)


def _serve(conn: Connection, config: RunConfig, devices: str, factory: EngineFactory) -> None:
    """A worker's loop: build the engine, then answer each batch of requests until told to stop."""
    os.environ["CUDA_VISIBLE_DEVICES"] = devices  # before anything can initialise CUDA
    try:
        load_tasks(config.tasks)  # the run's task files, so that replies are checked against their models here too
        engine = factory(config)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which decides
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", (engine.name, engine.model)))
    in_flight = 0
    try:
        while True:
            while in_flight == 0 or conn.poll():  # take every request sent so far before running the engine
                if (message := conn.recv()) is None:
                    return
                engine.submit(message)
                in_flight += len(message)
            try:
                done = engine.collect()
            except EngineError as exc:  # the engine cannot work at all: the parent raises it
                conn.send(("fatal", str(exc)))
                in_flight = 0
                continue
            except Exception as exc:  # noqa: BLE001 - what it held fails, the worker goes on
                conn.send(("error", f"{type(exc).__name__}: {exc}"))
                in_flight = 0
                continue
            in_flight = 0 if not done else in_flight - len(done)
            conn.send(("done", done) if done else ("error", "the engine returned no completion"))
    except EOFError:
        pass
    finally:
        engine.close()


class _Worker:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, index: int, config: RunConfig, factory: EngineFactory) -> None:
        self.index = index
        per_worker = max(1, config.engine_settings.tensor_parallel_size)
        devices = worker_devices(index, per_worker, os.environ.get("CUDA_VISIBLE_DEVICES"))
        self.conn, child = mp.get_context("spawn").Pipe()
        self.process = mp.get_context("spawn").Process(
            target=_serve, args=(child, config, devices, factory), name=f"docpipe-engine-{index}",
            daemon=False,  # vLLM starts processes of its own; a daemon may not
        )
        self.process.start()
        child.close()

    def ready(self) -> tuple[str, str | None]:
        """Wait for the engine to load; EngineError if it could not."""
        try:
            status, value = self.conn.recv()
        except EOFError:
            self.process.join()
            raise EngineError(f"engine worker {self.index} died while starting "
                              f"(exit code {self.process.exitcode})") from None
        if status != "ready":
            self.stop()
            raise EngineError(f"engine worker {self.index} could not start: {value}")
        return value  # type: ignore[no-any-return]

    def stop(self) -> None:
        if self.process.is_alive():
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.process.join(timeout=60)
            if self.process.is_alive():
                self.process.kill()
                self.process.join()
        self.conn.close()


class DataParallelEngine(EngineDefaults):
    """N engines in N processes behind the one Engine protocol; see the module docstring."""

    def __init__(self, config: RunConfig, n: int, factory: EngineFactory = create_engine) -> None:
        if n < 1:
            raise EngineError(f"data parallelism needs at least one worker, got {n}")
        self.config, self.factory = config, factory
        self.workers: list[_Worker | None] = []
        self._held: dict[int, dict[str, Request]] = {i: {} for i in range(n)}  # sent, not yet answered
        self._owner: dict[str, int] = {}  # document → the worker its requests go to
        self._lost: list[Completion] = []  # failed with a dead worker, not yet collected
        try:
            for i in range(n):
                self.workers.append(_Worker(i, config, factory))
            names = [w.ready() for w in self.workers if w is not None]
        except BaseException:
            self.close()
            raise
        self.name, self.model = names[0]
        self.tasks = engine_tasks(config, None)  # what its workers' engine runs

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        return generate_streamed(self, requests, "no engine worker answered")

    def submit(self, requests: Sequence[Request]) -> None:
        workers = {w.index: w for w in self._alive()}
        new = [r for r in requests if self._owner.get(r.doc_id) not in workers]
        load = {i: sum(r.prompt_tokens for r in self._held[i].values()) for i in workers}
        indices = sorted(workers)
        for share, i in zip(assign(new, len(indices), [load[i] for i in indices]), indices):
            for k in share:
                self._owner[new[k].doc_id] = i
        per_worker: dict[int, list[Request]] = {}
        for request in requests:
            per_worker.setdefault(self._owner[request.doc_id], []).append(request)
        for i, batch in per_worker.items():
            self._held[i].update((r.request_id, r) for r in batch)
            try:
                workers[i].conn.send(batch)
            except OSError:
                pass  # it died: `collect` finds out and fails what it held

    def collect(self) -> list[Completion]:
        if self._lost:
            lost, self._lost = self._lost, []
            return lost
        busy = [w for w in self.workers if w is not None and self._held[w.index]]
        if not busy:
            return []
        ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
        worker = next(w for w in busy if w.conn in ready or w.process.sentinel in ready)
        try:
            return self._receive(worker)
        except EngineError as exc:  # say what every worker says, as the run ends here
            fatal = [str(exc)]
            for other in busy:
                if other is not worker:
                    try:
                        self._receive(other)
                    except EngineError as more:
                        fatal.append(str(more))
            raise EngineError("; ".join(sorted(fatal))) from None

    def close(self) -> None:
        for worker in self.workers:
            if worker is not None:
                worker.stop()
        self.workers = [None] * len(self.workers)

    def _receive(self, worker: _Worker) -> list[Completion]:
        """The worker's next completions; when its engine failed or it died, an error for each request it held."""
        held = self._held[worker.index]
        try:
            status, value = worker.conn.recv()
        except (EOFError, OSError):
            worker.process.join()
            status, value = "died", f"engine worker {worker.index} died (exit code {worker.process.exitcode})"
            log.error("%s; its %d requests failed", value, len(held))
        if status == "done":
            for completion in value:
                held.pop(completion.request_id, None)
            return list(value)
        if status == "fatal":  # as a single engine would: the run stops with "engine unavailable"
            raise EngineError(f"engine worker {worker.index}: {value}")
        failed = [Completion(request_id=r.request_id, error=str(value)) for r in held.values()]
        held.clear()
        return failed

    def _alive(self) -> list[_Worker]:
        """The live workers, restarting any that died; EngineError when none is left."""
        for i, worker in enumerate(self.workers):
            if worker is not None and not worker.process.is_alive():
                worker.stop()
                held, self._held[i] = self._held[i], {}  # the dead worker's requests fail, not wait forever
                self._lost += [Completion(request_id=r.request_id, error=f"engine worker {i} died "
                                          f"(exit code {worker.process.exitcode})") for r in held.values()]
                log.warning("restarting engine worker %d", i)
                try:
                    self.workers[i] = _Worker(i, self.config, self.factory)
                    self.workers[i].ready()  # type: ignore[union-attr]
                except EngineError as exc:
                    log.error("%s", exc)
                    self.workers[i] = None
        alive = [w for w in self.workers if w is not None]
        if not alive:
            raise EngineError("no engine worker is left")
        return alive
