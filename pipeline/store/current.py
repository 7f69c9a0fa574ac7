"""Keeping the review and the exports true to the run store, whatever happened between runs.

Contract: `refresh_review(output, store)` rebuilds `index.html`, the per-document reports, `clauses.csv`
and `results.jsonl` from exactly the store's current documents (`RunStore.current_documents`: one row per
input path of the last surveyed run, with its current content's result) whenever the generation recorded
in `OUT/.docpipe_review.json` is not the store's, or the review is missing; it returns whether it
rebuilt. The marker is written last, after every review file: a run killed anywhere in between leaves an
older (or no) marker, and the next run rebuilds (and so it does when one of `REVIEW_FILES` is missing). Result folders of content no input holds any more stay
on disk (a file that comes back is reused) until `docpipe prune`.
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.render.result import write_atomic
from pipeline.store.runstore import RunStore

MARKER = ".docpipe_review.json"
REVIEW_FILES = ("index.html", "fields.html", "clauses.csv", "results.jsonl", "results.xlsx")  # one lost another way is rebuilt too


def built_generation(output: Path) -> int | None:
    """The store generation the review in `output` was built from (None: unknown, or no review)."""
    try:
        return int(json.loads((output / MARKER).read_text("utf-8"))["generation"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def refresh_review(output: Path, store: RunStore) -> bool:
    """Rebuild the review and exports when they do not show the store's latest state (module docstring)."""
    generation = store.generation()
    if built_generation(output) == generation and all((output / name).is_file() for name in REVIEW_FILES):
        return False
    from pipeline.render.review import write_review  # jinja2 and the templates: only when rebuilding

    write_review(output, documents=store.current_documents())
    write_atomic(output / MARKER, json.dumps({"generation": generation}) + "\n")
    return True


def current_documents(output: Path) -> list[tuple[str, str]] | None:
    """The documents the exports of `output` list, from its run store; None when it has none (a folder
    written without a store: every result folder is shown)."""
    try:
        with RunStore(output, create=False) as store:
            return store.current_documents()
    except FileNotFoundError:
        return None
