"""A folder made with one configuration is not silently redone with another.

Contract: `check_settings(store, parts, reconfigure)` raises `ConfigError` (exit code 2) — before the run
touches anything — when the output folder's last surveyed run used other user settings than `parts`
(`store.key.USER_PARTS`: the run config, the checklist's contents, a local model's or tokenizer's
identity), naming each setting that differs with its old and new value. With `reconfigure` it only logs
them: the run goes on and redoes what the new settings change. A folder without runs, or made by a
docpipe that did not record its settings, is never refused. Differences that come with docpipe itself
(its version, templates, clause patterns, sampling, schema) are not refused either: results are redone.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from pipeline.errors import ConfigError
from pipeline.store.key import USER_PARTS
from pipeline.store.runstore import RunStore

log = logging.getLogger(__name__)


def check_settings(store: RunStore, parts: Mapping[str, Any], reconfigure: bool) -> None:
    """Refuse a run whose user settings differ from the folder's (see the module docstring)."""
    last = store.last_config()
    if last is None or last[1] is None:
        return
    changed = differences({k: last[1].get(k) for k in USER_PARTS}, {k: parts.get(k) for k in USER_PARTS})
    if not changed:
        return
    listed = "; ".join(f"{name}: {_short(old)} → {_short(new)}" for name, old, new in changed)
    if reconfigure:
        log.warning("--reconfigure: this folder was made with other settings (%s); their results are redone", listed)
        return
    raise ConfigError(
        f"this output folder was made with other settings: {listed}. Nothing was touched. Run again with "
        "--reconfigure to redo its results with the new settings, or use another --output.")


def differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """(dotted name, old value, new value) of every leaf that differs between two nested dicts."""
    a, b = dict(_leaves(old)), dict(_leaves(new))
    return [(name, a.get(name), b.get(name)) for name in sorted(a.keys() | b.keys()) if a.get(name) != b.get(name)]


def _leaves(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            # the run config's own fields read as the flags people know (tasks, not config.tasks)
            yield from _leaves(item, f"{prefix}.{key}" if prefix and prefix != "config" else str(key))
    else:
        yield prefix, value


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."
