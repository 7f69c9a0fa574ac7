"""`docpipe status OUT`: what the run store knows, without touching the run (read only, no lock taken;
works on a read-only output folder).

Contract: `run_status(output)` returns a JSON-able dict — the last run (state, times, config key,
totals), and for each input of the last run that surveyed its inputs, under that run's config (what the
exports list): `done` (ok), `failed` and `partial`
(with their causes), `pending` (no result yet: new, changed, or left by a stopped or killed run) and
`duplicates` (same content as another file). `format_status` renders it for people.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pipeline.store.runstore import RunStore


def run_status(output: Path) -> dict[str, Any]:
    """The store's view of `output` (raises FileNotFoundError when no run used it)."""
    with RunStore(output, create=False) as store:
        last = store.last_run()
        if last is None:
            return {"output": str(output), "last_run": None, "documents": {}}
        if last["state"] == "running" and not _alive(int(last["pid"])):
            last["state"] = "killed"  # no clean end; the next run marks it so, and resumes
        surveyed = store.inputs_run()  # the last run may have stopped before its survey (disk full, lock lost)
        files = store.files_of_run(*surveyed) if surveyed else []
    docs: dict[str, list[Any]] = {"done": [], "partial": [], "failed": [], "pending": [], "duplicates": []}
    first: dict[str, str] = {}
    for path, key, status, error in files:
        if key in first and not key.startswith("path:"):
            docs["duplicates"].append({"path": path, "same_as": first[key]})
            continue
        first[key] = path
        if status is None:
            docs["pending"].append({"path": path})
        elif status == "ok":
            docs["done"].append({"path": path})
        else:
            docs[status].append({"path": path, "cause": error})
    return {"output": str(output), "last_run": last, "documents": docs}


def format_status(state: dict[str, Any]) -> str:
    last = state["last_run"]
    if last is None:
        return f"{state['output']}: no run recorded yet"
    docs = state["documents"]
    lines = [
        f"last run #{last['run_id']}: {last['state']}; started {last['started_at']}, "
        f"ended {last['finished_at'] or '-'}; config key {last['config_key']}",
        "files seen: " + ", ".join(f"{len(v)} {k}" for k, v in docs.items()),
    ]
    for kind in ("failed", "partial"):
        lines += [f"{kind}:"] * bool(docs[kind]) + [f"  {d['path']}: {d['cause']}" for d in docs[kind]]
    lines += ["pending:"] * bool(docs["pending"]) + [f"  {d['path']}" for d in docs["pending"]]
    lines += ["duplicates:"] * bool(docs["duplicates"])
    lines += [f"  {d['path']} = {d['same_as']}" for d in docs["duplicates"]]
    return "\n".join(lines)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
