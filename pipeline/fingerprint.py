"""The config key: one hash of everything that shapes a document's result, so a run knows what to redo.

Contract: `config_key(config, checklist)` changes when anything that can change a result changes — the
model, engine and its settings, rope/context limits, sampling and thinking, tasks, reserves, windows,
summary points, the ingest limits (pages, characters per page, decompression, timeout) and
`follow_symlinks`, the checklist's contents (not its file name), the prompt templates' hashes and the
result schema version — and stays the same for options that cannot (password, batch size, redo policy).
New RunConfig fields are included automatically: forgetting one can only redo too much, never too little.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from pipeline.config import RunConfig
from pipeline.models import SCHEMA_VERSION, ChecklistItem
from pipeline.prompts import template_hashes

KEY_LENGTH = 16
NOT_IN_KEY = {"password", "batch_documents", "redo", "checklist"}  # checklist: its contents count, below
ENGINES_WITHOUT_SETTINGS = {"extractive"}  # engines that read none of EngineSettings


def config_key(config: RunConfig, checklist: Sequence[ChecklistItem]) -> str:
    """The key under which results made with `config` are stored (see the module docstring)."""
    exclude = set(NOT_IN_KEY)
    if config.engine in ENGINES_WITHOUT_SETTINGS:
        exclude.add("engine_settings")
    payload = {
        "schema_version": SCHEMA_VERSION,
        "config": config.model_dump(mode="json", exclude=exclude),
        "checklist": [item.model_dump() for item in checklist] if "clauses" in config.tasks else [],
        "prompts": template_hashes(),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:KEY_LENGTH]
