"""Reading untrusted PDFs with a wall-time limit: `ingest` runs in a worker process that is killed when
one document takes too long.

Contract: `DocumentReader(config).read(path, sha256)` returns
`ingest(path, password, Limits.of(config), sha256, config.pdf_backend)` (`sha256`: when the caller has hashed
the file already; the Document carries the one used), or
raises `InputError` — also when reading took longer than `config.ingest_timeout` seconds (the worker is
killed; the next document gets a fresh one) or the worker died (e.g. killed for memory). With
`ingest_timeout == 0` it reads in this process, without a time limit. `DocumentReader(config)` raises
`ConfigError` when `config.pdf_backend` is not installed. The worker is a plain
`python -m pipeline.ingest_worker` child talking over two pipes, so it neither re-imports the caller's
`__main__` (as multiprocessing's spawn would) nor forks a process that holds threads.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType

from pipeline.config import RunConfig
from pipeline.errors import InputError
from pipeline.ingest import Limits, ingest, require_backend
from pipeline.models import Document

log = logging.getLogger(__name__)

START_TIMEOUT = 120.0  # seconds the worker may take to start (imports), separate from the per-document limit


class DocumentReader:
    """Holds the worker process (started on first use); use as a context manager or call `close`."""

    def __init__(self, config: RunConfig) -> None:
        self.timeout = config.ingest_timeout
        self.limits = Limits.of(config)
        self._password = config.password.get_secret_value() if config.password else None
        require_backend(config.pdf_backend)  # a run-wide error, before any document (not one per document)
        self.backend = config.pdf_backend
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: _Pipes | None = None

    def read(self, path: Path, sha256: str | None = None) -> Document:
        if not self.timeout:
            return ingest(path, self._password, self.limits, sha256, self.backend)
        try:
            conn = self._connection()
            conn.send((path, self._password, self.limits, sha256, self.backend))
        except OSError:  # the worker died while idle: once more with a fresh one
            self._stop()
            conn = self._connection()
            conn.send((path, self._password, self.limits, sha256, self.backend))
        if not conn.poll(self.timeout):
            self._stop()
            raise InputError(f"reading the PDF took longer than {self.timeout:g} s (--ingest-timeout); stopped")
        try:
            kind, value = conn.recv()
        except (EOFError, OSError):
            code = self._stop()
            raise InputError(f"the PDF reader process died (exit code {code}) while reading this file") from None
        if kind != "ok":
            raise value if isinstance(value, InputError) else InputError(str(value))
        return value  # type: ignore[no-any-return]

    def close(self) -> None:
        self._stop(graceful=True)

    def __enter__(self) -> DocumentReader:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _connection(self) -> _Pipes:
        if self._conn is not None:
            return self._conn
        child_in, to_child = os.pipe()  # (read end, write end)
        from_child, child_out = os.pipe()
        package_root = str(Path(__file__).resolve().parent.parent)  # the child imports this very `pipeline`
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.ingest_worker", str(child_in), str(child_out)],
            pass_fds=(child_in, child_out), stdin=subprocess.DEVNULL, env=env,
        )
        os.close(child_in)
        os.close(child_out)
        self._conn = _Pipes(Connection(from_child, writable=False), Connection(to_child, readable=False))
        try:
            if not self._conn.poll(START_TIMEOUT):
                raise InputError(f"the PDF reader process did not start within {START_TIMEOUT:g} s")
            self._conn.recv()  # "ready"
        except (EOFError, OSError, InputError) as exc:
            self._stop()
            if isinstance(exc, InputError):
                raise
            raise InputError("the PDF reader process could not start (see its messages above)") from exc
        return self._conn

    def _stop(self, graceful: bool = False) -> int | None:
        """Close the pipes and end the worker: politely (end of input) when `graceful`, else kill it."""
        process, conn, self._process, self._conn = self._process, self._conn, None, None
        if conn is not None:
            conn.close()  # a waiting worker sees end-of-file and exits
        if process is None:
            return None
        if graceful:
            try:
                return process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        process.kill()  # no-op when it has already exited
        return process.wait()


class _Pipes:
    """Two one-way pipes as one connection."""

    def __init__(self, reader: Connection, writer: Connection) -> None:
        self.reader, self.writer = reader, writer

    def send(self, obj: object) -> None:
        self.writer.send(obj)

    def poll(self, timeout: float) -> bool:
        return self.reader.poll(timeout)

    def recv(self) -> object:
        return self.reader.recv()

    def close(self) -> None:
        self.writer.close()
        self.reader.close()


def _serve(reader: Connection, writer: Connection) -> None:
    """The worker's loop: (path, password, limits, sha256, backend) in; ("ok", Document) or ("error", InputError) out
    (the error itself, so that its kind — e.g. EncryptedError, retried by the next run — survives)."""
    writer.send(("ready", None))
    while True:
        try:
            path, password, limits, sha256, backend = reader.recv()
        except EOFError:
            return
        try:
            writer.send(("ok", ingest(path, password, limits, sha256, backend)))
        except InputError as exc:
            writer.send(("error", exc))
        except Exception as exc:  # noqa: BLE001 — whatever a hostile file does, it fails that file only
            writer.send(("error", InputError(f"unexpected {type(exc).__name__} while reading the PDF: {exc}")))


if __name__ == "__main__":
    # Anything printed must not corrupt the pipes (they are separate fds; stdout goes to stderr anyway).
    sys.stdout = sys.stderr
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s (reader): %(message)s")
    _serve(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False))
