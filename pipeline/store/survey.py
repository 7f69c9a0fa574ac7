"""Which documents a run must do, and which results it may reuse from the run store.

Contract: `survey(paths, store, run_id, key, output, redo)` sorts the input files into
- `todo`: new or changed files, results made under another config, retryable failures, and results whose
  files are missing from the output folder;
- `reused`: stored reports of unchanged documents (status ok, or a final failure), marked `cached`;
- `duplicates`: files whose content equals an earlier file of this run (processed once, under the first).
A file is hashed only when its size, mtime, ctime or inode differ from what the store saw last time.
A failure is final — not retried until the file or the config changes, or `redo` says so — when the
content's own bytes caused it (corrupt, not a PDF, a bomb, no text layer, failed or empty pages…), or after
`MAX_ATTEMPTS` tries; never when the path vanished or changed under the run (`ChangedError`: recorded under
the path's key, not under any content) or a password is missing.
"""

from __future__ import annotations

import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.ingest.read import file_sha256
from pipeline.models import DocReport
from pipeline.sanitize import path_text
from pipeline.store.runstore import FileSig, RunStore, StoredResult

MAX_ATTEMPTS = 3
# A password may be given next time; a file that changed while it was read is read again.
RETRYABLE_INPUT_KINDS = {"EncryptedError", "ChangedError"}


@dataclass(frozen=True)
class Item:
    """An input file with its identity: `sha256` None when the file cannot be read at all."""

    path: Path
    sha256: str | None
    doc_key: str


@dataclass
class Survey:
    todo: list[Item] = field(default_factory=list)
    reused: list[DocReport] = field(default_factory=list)
    duplicates: list[tuple[Item, Path]] = field(default_factory=list)  # (file, the earlier file it equals)
    attempts: dict[str, int] = field(default_factory=dict)  # earlier tries of todo documents, by key


def survey(
    paths: Sequence[Path], store: RunStore, run_id: int, config_key: str, output: Path, redo: str
) -> Survey:
    """Sort `paths` into todo, reused and duplicates (see the module docstring); notes every file in the store."""
    known, stored = store.known_files(), store.results(config_key)
    out, first = Survey(), dict[str, Path]()
    seen: list[tuple[str, FileSig | None, str]] = []
    for path in paths:
        sig, item = identify(path, known)
        seen.append((path_text(path), sig, item.doc_key))
        if item.sha256 and item.doc_key in first:
            out.duplicates.append((item, first[item.doc_key]))
            continue
        first[item.doc_key] = path
        row = stored.get(item.doc_key)
        if row is not None and reusable(row, redo, output):
            out.reused.append(row.report.model_copy(update={"path": path_text(path), "cached": True}))
        else:
            out.todo.append(item)
            out.attempts[item.doc_key] = row.attempts if row is not None else 0
    store.note_files(run_id, seen)
    return out


def doc_key(path: Path, sha256: str | None) -> str:
    """The store's key of a document: its sha256, or its path when it could not be read."""
    return sha256 or f"path:{path_text(path)}"


def identify(path: Path, known: dict[str, tuple[FileSig, str]]) -> tuple[FileSig | None, Item]:
    """The file's signature and Item, reusing the stored sha256 when the signature is unchanged."""
    text = path_text(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            return None, Item(path, None, doc_key(path, None))  # a FIFO or folder: reading could block
        sig = (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)
        previous = known.get(text)
        if previous is not None and previous[0] == sig and not previous[1].startswith("path:"):
            return sig, Item(path, previous[1], previous[1])
        sha = file_sha256(path)
    except OSError:
        return None, Item(path, None, doc_key(path, None))
    return sig, Item(path, sha, sha)


def reusable(row: StoredResult, redo: str, output: Path) -> bool:
    """Whether a stored result stands for this run."""
    if redo == "all" or not (output / row.report.doc_id / "result.json").is_file():
        return False
    if row.report.status == "ok":
        return True
    return redo != "failed" and row.final


def is_final(report: DocReport, sha256: str | None, attempts: int) -> bool:
    """Whether a failure will not be retried while file and config stay the same (module docstring);
    `attempts` counts this one."""
    if report.status == "ok":
        return True
    if any(e.kind in RETRYABLE_INPUT_KINDS for e in report.errors):
        return False  # the path's state at one moment, or a password: never the content's fault
    if attempts >= MAX_ATTEMPTS:
        return True
    return sha256 is not None and bool(report.errors) and all(e.stage == "ingest" for e in report.errors)
