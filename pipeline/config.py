"""Run configuration. Imports no stage.

Two layers: `EngineSettings` are machine settings, read from `DOCPIPE_*` environment variables (and
overridable by flags); `RunConfig` is one run's configuration. Both are frozen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

TASKS = ("summary", "clauses")
NATIVE_CONTEXT = 32_768  # Qwen3 dense models' native context
YARN_CONTEXT = 131_072  # with static YaRN factor 4.0 over 32,768


class EngineSettings(BaseSettings):
    """Engine knobs for the machine the run is on; env `DOCPIPE_<NAME>` sets each (a `--config` file and
    flags override them, see `pipeline.settings`)."""

    model_config = SettingsConfigDict(env_prefix="DOCPIPE_", frozen=True, extra="ignore")

    dtype: str = "auto"
    quantization: str | None = Field(default=None, description="e.g. fp8")
    kv_cache_dtype: str = "auto"
    tensor_parallel_size: int = Field(default=1, ge=1)
    gpu_memory_utilization: float = Field(default=0.90, gt=0, le=1)
    max_num_seqs: int | None = None
    enforce_eager: bool = False
    seed: int = 0
    load_format: str = Field(default="auto", description='"dummy": random weights (benchmarks)')
    reasoning_parser: str | None = Field(default=None, description='default: "qwen3" in thinking mode')
    structured_backend: str = Field(default="xgrammar", description="must be xgrammar or guidance")
    retries: int = Field(default=1, ge=0, description="re-asks of a truncated or invalid reply, with 2x room")


class RunConfig(BaseModel):
    """Everything one run depends on. Paths are resolved by the caller."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    engine: Literal["extractive", "vllm", "server", "scripted"] = "extractive"
    model: str | None = None
    tasks: tuple[str, ...] = TASKS
    checklist: Path | None = Field(default=None, description="CSV with name,description; None = CUAD's 41")
    password: str | None = None
    tokenizer: str | None = Field(default=None, description="local tokenizer folder; default: the model's")
    native_context: int = NATIVE_CONTEXT
    max_context: int = YARN_CONTEXT
    summary_reserve: int = 2048
    clauses_reserve: int = 4096
    summary_points: int = 8
    max_window_tokens: int | None = Field(default=None, description="cap on a window's prompt+reserve")
    window_overlap: float = 0.10
    thinking: bool = False
    thinking_reserve: int = Field(default=4096, description="extra output tokens for reasoning (thinking mode)")
    save_reasoning: bool = Field(default=False, description="keep thinking-mode reasoning in result.json")
    batch_documents: int = 32
    engine_settings: EngineSettings = Field(default_factory=EngineSettings)

    @model_validator(mode="after")
    def _check(self) -> RunConfig:
        unknown = set(self.tasks) - set(TASKS)
        if unknown or not self.tasks:
            raise ValueError(f"tasks must be a non-empty subset of {TASKS}, got {self.tasks}")
        if self.max_context < 1024:
            raise ValueError("max_context must be at least 1024 tokens")
        return self

    def reserve(self, task: str) -> int:
        """Output tokens reserved for one task's reply."""
        base = self.summary_reserve if task == "summary" else self.clauses_reserve
        return base + (self.thinking_reserve if self.thinking else 0)
