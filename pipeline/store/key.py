"""The config key: one hash of everything that shapes a document's result, so a run knows what to redo.

Contract: `config_key(config, checklist)` changes when anything that can change a result changes — the
model, engine and its settings, rope/context limits, sampling and thinking, tasks, reserves, windows,
summary points, the ingest limits (pages, characters per page, decompression, timeout),
`follow_symlinks` and the PDF backend (pypdfium2's text is not pypdf's), the checklist's contents (not its
file name), the task definitions (each task file's contents, not its name or path), the prompt templates'
hashes and the result schema version — and stays the same for options
that cannot (password, batch size, ingest jobs, redo policy, data-parallel workers, a server's concurrency,
timeouts and retries, and server settings for other engines).
New RunConfig fields are included automatically: forgetting one can only redo too much, never too little.
The default PDF backend (pypdf) and the default `max_document_mb` are left out, so that keys made before
`--pdf-backend` and `--max-document-mb` existed stay valid.
OCR enters as one block (`pipeline.ingest.ocr.ocr_key`: mode, settings, rapidocr/onnxruntime/pypdfium2 versions)
only when OCR can run; with `--ocr never`, or `auto` without the OCR extra, the key is what it was before OCR.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from pipeline.config import MAX_DOCUMENT_MB, RunConfig
from pipeline.ingest.ocr import ocr_key
from pipeline.models import SCHEMA_VERSION, ChecklistItem
from pipeline.plan.prompts import template_hashes
from pipeline.tasks.registry import load_tasks, uses_checklist

KEY_LENGTH = 16
NOT_IN_KEY = {"password", "batch_documents", "jobs", "redo", "checklist", "tasks"}  # their contents count, below
OCR_FIELDS = {"ocr", "ocr_engine", "ocr_dpi", "ocr_max_pixels", "ocr_min_confidence", "ocr_images"}  # see ocr_key
ENGINES_WITHOUT_SETTINGS = {"extractive", "keyword"}  # engines that read none of EngineSettings
# How work is spread or sent, not what it yields: worker count, and a server's transport knobs.
NOT_IN_KEY_SETTINGS = {"engine_settings": {"data_parallel_size"},
                       "server": {"concurrency", "request_timeout", "max_retries", "backoff", "backoff_max",
                                  "api_key_env"}}


def config_key(config: RunConfig, checklist: Sequence[ChecklistItem]) -> str:
    """The key under which results made with `config` are stored (see the module docstring)."""
    tasks = load_tasks(config.tasks)  # their definitions count, not the names or paths they were given by
    exclude: dict[str, object] = {name: True for name in NOT_IN_KEY | OCR_FIELDS} | dict(NOT_IN_KEY_SETTINGS)
    if config.engine in ENGINES_WITHOUT_SETTINGS:
        exclude["engine_settings"] = True
    if config.engine != "server":
        exclude["server"] = True
    if config.pdf_backend == "pypdf":  # what every key meant before the option: an upgrade redoes nothing
        exclude["pdf_backend"] = True
    if config.max_document_mb == MAX_DOCUMENT_MB:  # likewise for the per-document memory bound
        exclude["max_document_mb"] = True
    payload = {
        "schema_version": SCHEMA_VERSION,
        "config": config.model_dump(mode="json", exclude=exclude),
        "checklist": [item.model_dump() for item in checklist] if uses_checklist(tasks) else [],
        "prompts": template_hashes(),
        "tasks": {task.name: task.digest() for task in tasks},
    }
    if (ocr := ocr_key(config)) is not None:
        payload["ocr"] = ocr
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:KEY_LENGTH]
