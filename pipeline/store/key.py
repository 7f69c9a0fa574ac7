"""The result key: one hash of everything that shapes a document's result, so a run knows what to redo.

Contract: `key_parts(config, checklist, task_hashes)` is the JSON-able dict of everything that can change
a result, and `result_key(parts)` its hash; the run store, eval and every `result.json` use this one key.
In the parts:
- `config`: the RunConfig — engine and its settings, rope/context limits, thinking, reserves,
  windows, summary points, the ingest settings (pages, characters per page, decompression, memory per document, timeout,
  `follow_symlinks`, the PDF backend) — without what cannot change a result: password, batch size, ingest
  jobs, redo policy, `--reconfigure`, data-parallel workers, a server's transport knobs (concurrency,
  timeouts, retries), server settings for other engines, and paths (the checklist, a local model or
  tokenizer folder: their contents count instead, below). New RunConfig fields are included automatically:
  forgetting one can only redo too much, never too little.
- `model`, `tokenizer`: a local folder's identity (its config files' hashes, its weight files' names and
  sizes), so a model swapped in place redoes the results and a model moved elsewhere does not;
- `checklist` (its contents), `clause_patterns` (the curated pattern file's hash), `sampling` (the
  sampling parameters model engines send), `prompts` (the templates' hashes), `task_names` (the tasks chosen),
  `tasks` (their definitions' hashes, from the task registry; a task file counts by contents, not path), `schema_version`, `docpipe_version`.
`ocr`: OCR's block (`pipeline.ingest.ocr.ocr_key`: mode, settings, rapidocr/onnxruntime/pypdfium2
versions), only when OCR can run. Log format, output and input paths are not in it: they are not in the config at all.
`USER_PARTS` names the parts a person chooses (the rest change with docpipe itself): a folder made with
other user parts is refused unless `--reconfigure` (see `store.reconfigure`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from pipeline import __version__
from pipeline.config import RunConfig
from pipeline.ingest.ocr import ocr_key
from pipeline.models import SCHEMA_VERSION, ChecklistItem
from pipeline.tasks.templates import template_hashes
from pipeline.tasks.registry import load_tasks, uses_checklist

KEY_LENGTH = 16
NOT_IN_KEY = {"password", "batch_documents", "jobs", "redo", "reconfigure", "checklist", "tasks"}  # contents count
OCR_FIELDS = {"ocr", "ocr_engine", "ocr_dpi", "ocr_max_pixels", "ocr_min_confidence", "ocr_images",
              "ocr_page_timeout"}  # see ocr_key
ENGINES_WITHOUT_SETTINGS = {"extractive", "keyword"}  # engines that read none of EngineSettings
MODEL_ENGINES = {"vllm", "server", "scripted"}  # engines that sample from a model
# How work is spread or sent, not what it yields: worker count, and a server's transport knobs.
NOT_IN_KEY_SETTINGS = {"engine_settings": {"data_parallel_size"},
                       "server": {"concurrency", "request_timeout", "max_retries", "backoff", "backoff_max",
                                  "api_key_env"}}
LATER_SETTINGS = ("max_num_batched_tokens",)  # engine settings added after stores were made: in the key when set
USER_PARTS = ("config", "task_names", "checklist", "model", "tokenizer")
CONFIG_FILES = ("config.json", "generation_config.json", "tokenizer_config.json", "tokenizer.json")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt")


def key_parts(
    config: RunConfig, checklist: Sequence[ChecklistItem], task_hashes: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Everything that shapes a result under `config` (see the module docstring). `task_hashes`: name → hash
    of each task definition used; by default the task registry's digests of `config.tasks`. Tasks count by
    name (`task_names`: a user's choice, so other tasks on the same folder are refused without
    --reconfigure) and by definition (`tasks`: changes with docpipe's own task files too, so an upgrade
    redoes results without refusing), never by the path of a task file."""
    tasks = load_tasks(config.tasks)
    exclude: dict[str, object] = {name: True for name in NOT_IN_KEY | OCR_FIELDS} | dict(NOT_IN_KEY_SETTINGS)
    if config.engine in ENGINES_WITHOUT_SETTINGS:
        exclude["engine_settings"] = True
    if config.engine != "server":
        exclude["server"] = True
    dumped = config.model_dump(mode="json", exclude=exclude)
    if not dumped.get("reply_room"):
        dumped.pop("reply_room", None)  # not set: the same key as before the setting existed
    settings = dumped.get("engine_settings") or {}
    for added in LATER_SETTINGS:
        if settings.get(added) is None:
            settings.pop(added, None)  # likewise
    model, tokenizer = folder_identity(config.model), folder_identity(config.tokenizer)
    if model is not None:
        dumped["model"] = "<local folder>"  # its contents count (below), not where it lies
    if tokenizer is not None:
        dumped["tokenizer"] = "<local folder>"
    clauses = uses_checklist(tasks)
    parts = {
        "schema_version": SCHEMA_VERSION,
        "docpipe_version": __version__,
        "config": dumped,
        "model": model,
        "tokenizer": tokenizer,
        "checklist": [item.model_dump() for item in checklist] if clauses else [],
        "clause_patterns": _patterns_hash() if clauses and config.engine in ENGINES_WITHOUT_SETTINGS else None,
        "sampling": _sampling(config) if config.engine in MODEL_ENGINES else None,
        "prompts": template_hashes(),
        "task_names": sorted(task.name for task in tasks),
        "tasks": dict(sorted((task_hashes or {task.name: task.digest() for task in tasks}).items())),
    }
    if (ocr := ocr_key(config)) is not None:
        parts["ocr"] = ocr
    return parts


def result_key(parts: Mapping[str, Any]) -> str:
    """The hash of `key_parts(...)`: what the store files results under and each result.json records."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:KEY_LENGTH]


def folder_identity(name: str | None) -> dict[str, Any] | None:
    """A local model or tokenizer folder's identity: its small config files' sha256 and its weight files'
    names and sizes (hashing gigabytes of weights on every run would cost more than it protects). None
    when `name` is not a local folder (a hub id, a server's model name)."""
    if not name or not Path(name).is_dir():
        return None
    folder = Path(name)
    files = {f: hashlib.sha256((folder / f).read_bytes()).hexdigest() for f in CONFIG_FILES if (folder / f).is_file()}
    weights = {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.name.endswith(WEIGHT_SUFFIXES)}
    return {"files": files, "weights": weights}


def _patterns_hash() -> str:
    # The extractive and keyword engines' curated clause patterns: a changed pattern changes their clauses.
    return hashlib.sha256(resources.files("pipeline.engines").joinpath("clause_patterns.json").read_bytes()).hexdigest()


def _sampling(config: RunConfig) -> dict[str, float]:
    # What the engine of this config sends (plain data modules: they import neither vllm nor an HTTP client).
    if config.engine == "server":
        from pipeline.engines.server_api import SAMPLING
    else:
        from pipeline.engines.vllm_specs import SAMPLING
    return dict(SAMPLING[config.thinking])
