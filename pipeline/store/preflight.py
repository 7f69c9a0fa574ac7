"""Configuration errors found before a run touches its output folder.

Contract: `check_config(config)` raises `ConfigError` (exit code 2) when the run cannot work as
configured — a `--tokenizer` folder without tokenizer files, a `--model` given as a local path that is not
a folder, the PDF backend not installed, a checklist file that cannot be read — so that no document is
read, failed or rewritten because of a typo. It loads no tokenizer and imports no engine.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.config import RunConfig
from pipeline.errors import ConfigError
from pipeline.ingest.read import require_backend
from pipeline.plan.tokens import tokenizer_dir
from pipeline.tasks.checklist import load_checklist


def check_config(config: RunConfig) -> None:
    """Raise ConfigError for a configuration no document could be processed with (module docstring)."""
    require_backend(config.pdf_backend)
    if config.model and looks_like_path(config.model) and not Path(config.model).expanduser().is_dir():
        raise ConfigError(f"--model {config.model}: no such folder (a local model must be a folder; a model "
                          "name like Qwen/Qwen3-8B is looked up instead)")
    if config.tokenizer and not Path(config.tokenizer).is_dir():
        raise ConfigError(f"--tokenizer {config.tokenizer}: no such folder")
    tokenizer_dir(config.model, config.tokenizer)  # raises for a folder without tokenizer files
    if "clauses" in config.tasks:
        load_checklist(config.checklist)


def looks_like_path(name: str) -> bool:
    """Whether a model name is meant as a local path: absolute, or starting with ./ ../ ~ (a hub id is
    `owner/name`, which a relative path can also look like: those are taken as ids unless they exist)."""
    return name.startswith(("/", "./", "../", "~")) or name in (".", "..")
