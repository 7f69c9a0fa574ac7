"""The engine protocol: a batch of requests in, completions out, same length, same order.

Engines are the only holders of model resources. They load lazily: importing this module or
`pipeline` imports neither vllm nor torch. A request that fails comes back as a Completion with `error`
set; an engine raises only when it cannot work at all (`EngineError`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from pipeline.config import RunConfig
from pipeline.errors import ConfigError
from pipeline.models import Completion, EngineInfo, Request


@runtime_checkable
class Engine(Protocol):
    name: str
    model: str | None

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        """Completions for `requests`, in the same order."""
        ...

    def close(self) -> None:
        """Free the engine's resources (GPU memory, processes, connections)."""
        ...


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
        from pipeline.engines.server import ServerEngine  # type: ignore[import-not-found]

        return ServerEngine(config)  # type: ignore[no-any-return]
    raise ConfigError(f"unknown engine {config.engine!r} (the scripted engine is built in code, not by name)")
