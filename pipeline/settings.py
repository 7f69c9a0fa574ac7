"""Engine settings from three layers: `DOCPIPE_*` environment < a `--config` file < command-line flags.

Contract: `engine_settings(path, **flags)` returns the frozen `EngineSettings`; a flag given as None is
not set. The file is TOML (`.toml`) or JSON (`.json`): a flat table of `EngineSettings` fields, e.g.

    dtype = "bfloat16"
    quantization = "fp8"
    gpu_memory_utilization = 0.85

It may also hold the run's `tasks = ["summary", "contract_terms", "my_task.toml"]` (`read_run_options`; the
--task flag overrides it). A field that does not exist, or a value of the wrong kind, is a ConfigError (exit
code 2).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipeline.config import EngineSettings
from pipeline.errors import ConfigError

RUN_KEYS = ("tasks",)  # run options a config file may hold beside the engine settings


def engine_settings(path: Path | None = None, **flags: Any) -> EngineSettings:
    """Env, then the file, then the flags that were given (each layer overrides the one before)."""
    values = read_settings_file(path) if path else {}
    values.update({k: v for k, v in flags.items() if v is not None})
    try:
        return EngineSettings(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise ConfigError(f"engine setting {where}: {error['msg']}") from exc


def read_settings_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (OSError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"--config {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: expected a table of engine settings")
    unknown = sorted(set(data) - set(EngineSettings.model_fields) - set(RUN_KEYS))
    if unknown:
        raise ConfigError(f"--config {path}: unknown setting(s) {', '.join(unknown)}; "
                          f"known: {', '.join([*RUN_KEYS, *EngineSettings.model_fields])}")
    return {k: v for k, v in data.items() if k not in RUN_KEYS}


def read_run_options(path: Path) -> dict[str, Any]:
    """The run options of a --config file (`RUN_KEYS`): `tasks`, a list of task names or task-file paths
    (a relative path is taken from the config file's folder)."""
    read_settings_file(path)  # the whole file is checked, engine settings included
    text = path.read_text("utf-8")
    data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    tasks = data.get("tasks")
    if tasks is None:
        return {}
    if not isinstance(tasks, list) or not tasks or not all(isinstance(t, str) and t for t in tasks):
        raise ConfigError(f"--config {path}: key 'tasks': expected a non-empty list of task names or .toml paths")
    return {"tasks": [str(path.parent / t) if t.endswith(".toml") else t for t in tasks]}
