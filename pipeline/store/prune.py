"""`docpipe prune OUT`: remove the result folders no current input needs.

Contract: `prunable(output)` lists the result folders in `output` (a folder named like a doc_id that holds
a `result.json`) whose content no input of the last surveyed run holds any more — superseded (the file
changed), vanished (the file is gone) or left by a failure of the path — with what the store last knew of
each (its path and status). `prune(output, dry_run)` takes the output lock, lists them, removes them (and
their rows in the store, and the paths no longer among the inputs) unless `dry_run`, and rebuilds nothing:
the exports never showed them. Anything else in `output` is left alone. Raises FileNotFoundError when
`output` has no run store, `LockedError` while a run works on it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from pipeline.render.result import SAFE_DOC_ID
from pipeline.store.lock import output_lock
from pipeline.store.runstore import RunStore, store_path


@dataclass(frozen=True)
class Stale:
    """A result folder no current input needs: the path and status the store last recorded for it."""

    folder: Path
    last_path: str | None
    status: str | None


def prunable(output: Path, store: RunStore) -> list[Stale]:
    """The result folders of `output` that no current input needs (see the module docstring)."""
    needed = {doc_id for _, doc_id in store.current_documents()}
    known = {row[0]: (row[1], row[2]) for row in
             store.db.execute("SELECT doc_id, path, status FROM results ORDER BY finished_at")}
    stale = []
    for folder in sorted(p for p in output.iterdir() if p.is_dir() and not p.is_symlink()):
        if SAFE_DOC_ID.fullmatch(folder.name) and (folder / "result.json").is_file() and folder.name not in needed:
            path, status = known.get(folder.name, (None, None))
            stale.append(Stale(folder, path, status))
    return stale


def prune(output: Path, dry_run: bool = False) -> list[Stale]:
    """List, then (unless `dry_run`) remove the folders `prunable` finds; returns them."""
    if not store_path(output).is_file():
        raise FileNotFoundError(f"no run store in {output} (no docpipe run has used this folder)")
    with output_lock(output), RunStore(output) as store:
        stale = prunable(output, store)
        if dry_run:
            return stale
        for item in stale:
            shutil.rmtree(item.folder)
        store.forget(item.folder.name for item in stale)
    return stale
