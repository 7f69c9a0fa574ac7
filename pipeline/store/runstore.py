"""The run store: what every run did, in SQLite inside the output folder (`OUT/.docpipe.sqlite`).

Tables: `runs` (one row per run: times, state, config key, totals); `files` (each input path as last
seen: size, mtime, ctime, inode and its document key, so an unchanged file is not hashed again);
`results` (one row per document key and config key: status, cause, DocReport, run, time, attempts).
A document key is the file's sha256, or `path:<path>` for a file that could not be read at all.

Contract: `record` is called only after the document's result files are on disk, so a row means a
finished, durable result. The database runs in WAL mode: `docpipe status` reads while a run writes.
Only the holder of the output lock (`lock.py`) writes.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pipeline.models import DocReport
from pipeline.secrets import redact

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT, state TEXT NOT NULL,
    pid INTEGER NOT NULL, config_key TEXT NOT NULL, totals TEXT);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, inode INTEGER,
    doc_key TEXT NOT NULL, run_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    doc_key TEXT NOT NULL, config_key TEXT NOT NULL, doc_id TEXT NOT NULL, path TEXT NOT NULL,
    status TEXT NOT NULL, final INTEGER NOT NULL, error TEXT, report TEXT NOT NULL,
    prompt_tokens INTEGER, output_tokens INTEGER, seconds REAL, run_id INTEGER NOT NULL,
    finished_at TEXT NOT NULL, attempts INTEGER NOT NULL,
    PRIMARY KEY (doc_key, config_key));
"""
FileSig = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode: any change means "hash again"


def store_path(output: Path) -> Path:
    return output / ".docpipe.sqlite"  # with its WAL files beside it: .docpipe.sqlite-wal, -shm


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class StoredResult:
    """One `results` row."""

    report: DocReport
    final: bool
    attempts: int
    run_id: int
    finished_at: str


class RunStore:
    """Holds the SQLite connection of one output folder."""

    def __init__(self, output: Path, create: bool = True) -> None:
        path = store_path(output)
        if not create and not path.is_file():
            raise FileNotFoundError(f"no run store in {output} (no docpipe run has used this folder)")
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None)  # autocommit; explicit transactions
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: consistent after any crash
        self.db.executescript(SCHEMA)

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    def begin_run(self, config_key: str) -> int:
        # Called under the output lock: a run still marked running has died without ending (SIGKILL, power).
        self.db.execute("UPDATE runs SET state = 'killed' WHERE state = 'running'")
        cur = self.db.execute("INSERT INTO runs (started_at, state, pid, config_key) VALUES (?, 'running', ?, ?)",
                              (now(), os.getpid(), config_key))
        return int(cur.lastrowid or 0)

    def end_run(self, run_id: int, state: str, totals: dict[str, float] | None = None) -> None:
        self.db.execute("UPDATE runs SET finished_at = ?, state = ?, totals = ? WHERE run_id = ?",
                        (now(), state, json.dumps(totals) if totals is not None else None, run_id))

    def known_files(self) -> dict[str, tuple[FileSig, str]]:
        """Every path ever seen: its signature and document key when last seen."""
        rows = self.db.execute("SELECT path, size, mtime_ns, ctime_ns, inode, doc_key FROM files")
        return {r[0]: ((r[1], r[2], r[3], r[4]), r[5]) for r in rows}

    def note_files(self, run_id: int, files: Iterable[tuple[str, FileSig | None, str]]) -> None:
        """Record the paths this run saw: (path, signature or None, document key)."""
        rows = [(path, *(sig or (None, None, None, None)), key, run_id) for path, sig, key in files]
        with self._transaction():
            self.db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def results(self, config_key: str) -> dict[str, StoredResult]:
        rows = self.db.execute("SELECT doc_key, report, final, attempts, run_id, finished_at FROM results "
                               "WHERE config_key = ?", (config_key,))
        return {r[0]: StoredResult(DocReport.model_validate_json(r[1]), bool(r[2]), r[3], r[4], r[5]) for r in rows}

    def record(self, run_id: int, config_key: str, doc_key: str, report: DocReport, final: bool) -> None:
        """Record a finished document (its files must already be written). Rows of the same document under
        other configs go: its folder now holds this config's result, not theirs. Known secrets are redacted
        from what is stored (the last-line check, as for result files)."""
        error = redact("; ".join(f"{e.stage}/{e.kind}: {e.message}" for e in report.errors)) or None
        with self._transaction():
            self.db.execute("DELETE FROM results WHERE doc_key = ? AND config_key != ?", (doc_key, config_key))
            self.db.execute(
                "INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) "
                "ON CONFLICT (doc_key, config_key) DO UPDATE SET doc_id = excluded.doc_id, path = excluded.path, "
                "status = excluded.status, final = excluded.final, error = excluded.error, "
                "report = excluded.report, prompt_tokens = excluded.prompt_tokens, "
                "output_tokens = excluded.output_tokens, seconds = excluded.seconds, run_id = excluded.run_id, "
                "finished_at = excluded.finished_at, attempts = results.attempts + 1",
                (doc_key, config_key, report.doc_id, report.path, report.status, int(final), error,
                 redact(report.model_dump_json()), report.prompt_tokens, report.output_tokens,
                 sum(report.seconds.values()), run_id, now()),
            )

    def last_run(self) -> dict[str, object] | None:
        row = self.db.execute("SELECT run_id, started_at, finished_at, state, pid, config_key, totals FROM runs "
                              "ORDER BY run_id DESC LIMIT 1").fetchone()
        if row is None:
            return None
        keys = ("run_id", "started_at", "finished_at", "state", "pid", "config_key", "totals")
        return dict(zip(keys, row[:6], strict=False)) | {"totals": json.loads(row[6]) if row[6] else None}

    def files_of_run(self, run_id: int, config_key: str) -> Sequence[tuple[str, str, str | None, str | None]]:
        """(path, document key, status or None, error) for each path the run saw, under its config."""
        return self.db.execute(
            "SELECT f.path, f.doc_key, r.status, r.error FROM files f LEFT JOIN results r "
            "ON r.doc_key = f.doc_key AND r.config_key = ? WHERE f.run_id = ? ORDER BY f.path",
            (config_key, run_id),
        ).fetchall()

    def _transaction(self) -> sqlite3.Connection:
        # `with connection:` commits or rolls back, but opens no transaction in autocommit mode: begin one.
        self.db.execute("BEGIN IMMEDIATE")
        return self.db
