"""The engine protocol: requests in, completions out, as a batch (`generate`) or streamed (`submit` + `collect`).

`generate(requests)` returns one completion per request, same order. The streaming form is what the batch core
uses: `submit(requests)` queues requests and returns at once; `collect()` waits until at least one submitted
request is finished and returns the finished ones (any order, each exactly once), or [] when nothing is in
flight. Requests may be submitted while others run (a document's reduce after its map replies). Engines that
only batch get the streaming form from `BatchStreaming` (`collect` runs everything submitted as one batch).

Engines are the only holders of model resources. They load lazily: importing this module or
`pipeline` imports neither vllm nor torch. A request that fails comes back as a Completion with `error`
set; an engine raises only when it cannot work at all (`EngineError`). Every engine also has the hooks
`start()` (begin loading ahead of the first batch), `warm_up(requests)` and `context_limit() -> int | None`
(the longest prompt + reply it takes: the runner plans within it, `open_for_planning`), and says which tasks it
runs (`tasks`; None: any); `EngineDefaults` gives an engine that needs none of them the do-nothing ones.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from pipeline.config import RunConfig
from pipeline.errors import ConfigError
from pipeline.models import Completion, EngineInfo, Request

log = logging.getLogger(__name__)


@runtime_checkable
class Engine(Protocol):
    name: str
    model: str | None
    tasks: frozenset[str] | None  # the task names it can run; None: any task (a model answering its schema)

    def start(self) -> None:
        """Begin loading (a model, processes) ahead of the first batch; called once, before any plan."""
        ...

    def warm_up(self, requests: Sequence[Request]) -> None:
        """Prepare for batches like `requests` (the first planned document's), e.g. their engine configuration."""
        ...

    def context_limit(self) -> int | None:
        """The longest prompt + reply the engine takes, when it says (a server); None: no limit of its own."""
        ...

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        """Completions for `requests`, in the same order."""
        ...

    def submit(self, requests: Sequence[Request]) -> None:
        """Queue `requests` (kept in this order where the engine has an order); returns at once."""
        ...

    def collect(self) -> list[Completion]:
        """Wait for at least one submitted request to finish; the finished ones, or [] if none is in flight."""
        ...

    def close(self) -> None:
        """Free the engine's resources (GPU memory, processes, connections)."""
        ...


class BatchStreaming:
    """The streaming form for an engine that answers whole batches: `collect` runs all that was submitted
    through the engine's `generate` at once (so what is submitted together is batched together)."""

    _submitted: list[Request]

    def submit(self, requests: Sequence[Request]) -> None:
        if not hasattr(self, "_submitted"):
            self._submitted = []
        self._submitted.extend(requests)

    def collect(self) -> list[Completion]:
        batch, self._submitted = getattr(self, "_submitted", []), []
        return self.generate(batch) if batch else []  # type: ignore[attr-defined]


def generate_streamed(engine: Engine, requests: Sequence[Request], missing: str) -> list[Completion]:
    """`generate` for an engine that streams: `submit` everything, `collect` until every request is in or the
    engine has nothing more; completions in input order, a request never answered failed with `missing`."""
    engine.submit(requests)
    done: dict[str, Completion] = {}
    while len(done) < len(requests) and (finished := engine.collect()):
        done.update((c.request_id, c) for c in finished)
    return [done.get(r.request_id) or Completion(request_id=r.request_id, error=missing) for r in requests]


class EngineDefaults:
    """The protocol's optional hooks, for an engine that needs none of them: it runs any task, starts when
    first asked to generate, and has no context limit of its own."""

    tasks: frozenset[str] | None = None

    def start(self) -> None:
        """Nothing to start ahead."""

    def warm_up(self, requests: Sequence[Request]) -> None:
        """Nothing to warm up."""

    def context_limit(self) -> int | None:
        return None


def engine_tasks(config: RunConfig, engine: Engine | None) -> frozenset[str] | None:
    """The task names an engine runs (None: any task, from its schema), known before it is built: the
    model-free engines run the built-ins only."""
    if engine is not None:
        return engine.tasks
    if config.engine in ("extractive", "keyword"):
        from pipeline.engines.extractive import BUILTIN_TASKS

        return BUILTIN_TASKS
    return None


def engine_info(engine: Engine) -> EngineInfo:
    return EngineInfo(name=engine.name, model=engine.model)


def create_engine(config: RunConfig) -> Engine:
    """Build the configured engine; heavy engines import their libraries here, not before. With
    `data_parallel_size` > 1, a DataParallelEngine whose workers each build one (`engines/parallel.py`)."""
    if config.engine_settings.data_parallel_size > 1:
        from pipeline.engines.parallel import DataParallelEngine, single

        return DataParallelEngine(single(config), config.engine_settings.data_parallel_size)
    if config.engine == "extractive":
        from pipeline.engines.extractive import ExtractiveEngine

        return ExtractiveEngine(summary_points=config.summary_points)
    if config.engine == "keyword":
        from pipeline.engines.keyword import KeywordEngine

        return KeywordEngine(summary_points=config.summary_points)
    if config.engine == "vllm":
        from pipeline.engines.vllm import VLLMEngine  # type: ignore[import-not-found]

        return VLLMEngine(config)  # type: ignore[no-any-return]
    if config.engine == "server":
        from pipeline.engines.server import ServerEngine

        return ServerEngine(config)
    raise ConfigError(f"unknown engine {config.engine!r} (the scripted engine is built in code, not by name)")


def open_for_planning(config: RunConfig, engine: Engine | None) -> tuple[Engine | None, RunConfig]:
    """Before anything is planned: open the engines that must be asked their context (a server says its
    own), and cap the run's `max_context` at the engine's `context_limit()` where it has one, so that no
    prompt is routed whole past what the engine takes (it is windowed instead)."""
    if engine is None and config.engine == "server":
        engine = create_engine(config)
    limit = engine.context_limit() if engine is not None else None
    if limit is not None and limit < config.max_context:
        log.info("the engine's context is %d tokens: routing within it (--max-context was %d)", limit,
                 config.max_context)
        config = config.model_copy(update={"max_context": limit})
    return engine, config
