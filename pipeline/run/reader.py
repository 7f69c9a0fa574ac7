"""The reader process: reading untrusted PDFs with a wall-time limit — `ingest` runs in a worker process that
is killed when one document takes too long — and planning them there too. It lives in run/ because it drives
two stages (ingest, then plan) in one process: a stage may not import a later one (`pipeline/__init__.py`).

Contract: `DocumentReader(config).read(path, sha256)` returns
`ingest(path, password, Limits.of(config), sha256, config.pdf_backend, OcrOptions.of(config))` (`sha256`: when the
caller has hashed the file already; the Document carries the one used) — OCR, when it runs, runs here, under
the same time limit — or
raises `InputError` — also when reading took longer than `config.ingest_timeout` seconds (the worker is
killed; the next document gets a fresh one) or the worker died (e.g. killed for memory).
`prepare(path, sha256, checklist)` also plans the document in the worker (`plan_document`, with the worker's
own tokenizer, loaded once) and returns the Plan and the seconds each stage took; the time limit covers the
reading only, and a failure raises `PrepareError` naming its stage. With `ingest_timeout == 0` both run in
this process, without a time limit. `DocumentReader(config)` raises `ConfigError` when `config.pdf_backend` is
not installed, or `--ocr always` cannot run. The worker is a plain `python -m pipeline.run.reader` child talking
over two pipes, so it neither re-imports the caller's `__main__` (as multiprocessing's spawn would) nor forks
a process that holds threads. It ignores SIGINT (a Ctrl-C reaches the whole process group): the caller
decides when it stops. Its address space is limited (RLIMIT_AS, from `config.max_document_mb`, see
`pipeline.ingest.budget`): a document that needs more fails with that cause, the next gets a fresh worker.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType

from pipeline.config import PdfBackend, RunConfig
from pipeline.errors import InputError, PipelineError
from pipeline.ingest.budget import MB, limit_address_space
from pipeline.ingest.ocr import OcrOptions, require_ocr
from pipeline.ingest.read import Limits, ingest, require_backend
from pipeline.logs import configure_child, forward_child_stderr
from pipeline.models import ChecklistItem, Document, Plan

log = logging.getLogger(__name__)

START_TIMEOUT = 120.0  # seconds the worker may take to start (imports), separate from the per-document limit
_address_limit: int | None = None  # this process's RLIMIT_AS, when it is a worker that set one


class PrepareError(Exception):
    """A document that could not be prepared: the stage (ingest | plan) and the error it raised."""

    def __init__(self, stage: str, error: Exception) -> None:
        super().__init__(stage, error)  # the args, so that it survives pickling between processes
        self.stage, self.error = stage, error

    def __str__(self) -> str:
        return f"{self.stage}: {self.error}"


class DocumentReader:
    """Holds the worker process (started on first use); use as a context manager or call `close`."""

    def __init__(self, config: RunConfig) -> None:
        require_backend(config.pdf_backend)  # a run-wide error, before any document (not one per document)
        require_ocr(config)
        self.ocr = OcrOptions.of(config)
        self.config = config
        self.backend = config.pdf_backend
        self.timeout = config.ingest_timeout
        self.limits = Limits.of(config)
        self._password = config.password.get_secret_value() if config.password else None
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: _Pipes | None = None
        self._forwarder: threading.Thread | None = None

    def read(self, path: Path, sha256: str | None = None) -> Document:
        if not self.timeout:
            return ingest(path, self._password, self.limits, sha256, self.backend, self.ocr)
        try:
            return self._ask(path, sha256, None)[0]  # type: ignore[return-value]
        except PrepareError as exc:
            raise exc.error from None

    def prepare(
        self, path: Path, sha256: str | None, checklist: Sequence[ChecklistItem]
    ) -> tuple[Plan, dict[str, float]]:
        """Read and plan one document; raises PrepareError (see the module docstring)."""
        if not self.timeout:
            return _prepare_here(path, self._password, self.limits, sha256, (self.backend, self.ocr),
                                 (self.config, tuple(checklist)))
        return self._ask(path, sha256, (self.config, tuple(checklist)))  # type: ignore[return-value]

    def abort(self) -> None:
        """Kill the worker now (from any thread): a call waiting on it fails at once."""
        process = self._process
        if process is not None:
            process.kill()

    def _ask(self, path: Path, sha256: str | None, planning: object) -> tuple[object, dict[str, float]]:
        message = (path, self._password, self.limits, sha256, (self.backend, self.ocr), planning)
        try:
            try:
                conn = self._connection()
                conn.send(message)
            except OSError:  # the worker died while idle: once more with a fresh one
                self._stop()
                conn = self._connection()
                conn.send(message)
        except InputError as exc:  # the worker could not start
            raise PrepareError("ingest", exc) from None
        if not conn.poll(self.timeout):
            self._stop()
            raise PrepareError("ingest", InputError(
                f"reading the PDF took longer than {self.timeout:g} s (--ingest-timeout); stopped"))
        reply = self._receive(conn, "ingest")
        if reply[0] == "read":  # reading is done: planning has no time limit of its own
            reply = self._receive(conn, "plan")
        kind, value, seconds = reply
        if kind != "ok":
            raise value  # type: ignore[misc]  # a PrepareError
        return value, seconds  # type: ignore[return-value]

    def _receive(self, conn: _Pipes, stage: str) -> tuple[object, object, dict[str, float]]:
        try:
            return conn.recv()  # type: ignore[return-value]
        except (EOFError, OSError):
            code = self._stop()
            memory = " (out of memory? reader processes are limited by --max-document-mb)" if code and code < 0 else ""
            raise PrepareError(stage, InputError(
                f"the PDF reader process died (exit code {code}) while working on this file{memory}")) from None

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
        package_root = str(Path(__file__).resolve().parents[2])  # the child imports this very `pipeline`
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.run.reader", str(child_in), str(child_out),
             str(self.limits.max_document_mb), *(["--ocr"] if self.ocr is not None else [])],
            pass_fds=(child_in, child_out), stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
        )
        assert self._process.stderr is not None
        # Its log records (JSON lines) and anything else it writes become records of this process's logging:
        # one format (JSON under --log-format json), timestamps, redaction.
        self._forwarder = forward_child_stderr(self._process.stderr, "pipeline.ingest.reader")
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
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        process.kill()  # no-op when it has already exited
        code = process.wait()
        if self._forwarder is not None:  # its last lines reach the log before the caller goes on
            self._forwarder.join(timeout=5)
            self._forwarder = None
        return code


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
    """The worker's loop: (path, password, limits, sha256, (backend, ocr), planning) in, where planning is None or
    (config, checklist). Out: ("ok", Document | Plan, seconds), or ("error", PrepareError, {}) — the error
    itself, so that its kind (e.g. EncryptedError, retried by the next run) survives. When planning, a
    ("read", None, {}) marks the end of reading first."""
    writer.send(("ready", None, {}))
    while True:
        try:
            path, password, limits, sha256, reading, planning = reader.recv()
        except EOFError:
            return
        try:
            value, seconds = _prepare_here(path, password, limits, sha256, reading, planning,
                                           lambda: writer.send(("read", None, {})))
            writer.send(("ok", value, seconds))
        except PrepareError as exc:
            writer.send(("error", exc, {}))


def _prepare_here(
    path: Path, password: str | None, limits: Limits, sha256: str | None,
    reading: tuple[PdfBackend, OcrOptions | None], planning: object, read_done: object = None,
) -> tuple[object, dict[str, float]]:
    """Ingest (and plan, when `planning` is (config, checklist)) in this process; raises PrepareError.
    `reading` is (PDF backend, OCR options)."""
    t0 = time.perf_counter()
    document = _stage("ingest", lambda: ingest(path, password, limits, sha256, *reading))
    seconds = {"ingest": time.perf_counter() - t0}
    if planning is None:
        return document, seconds
    if callable(read_done):
        read_done()
    config, checklist = planning  # type: ignore[misc]
    t1 = time.perf_counter()
    plan = _stage("plan", lambda: _plan(document, config, checklist))
    return plan, seconds | {"plan": time.perf_counter() - t1}


def _plan(document: Document, config: RunConfig, checklist: Sequence[ChecklistItem]) -> Plan:
    from pipeline.plan.routes import plan_document  # the tokenizer and the templates: only in a planning process
    from pipeline.plan.tokens import load_tokenizer, tokenizer_dir

    return plan_document(document, config, load_tokenizer(tokenizer_dir(config.model, config.tokenizer)), checklist)


def _stage(stage: str, work: Callable[[], object]) -> object:
    try:
        return work()
    except PipelineError as exc:
        raise PrepareError(stage, exc) from None
    except MemoryError:
        where = ": over the reader process's address-space limit of " \
            f"{_address_limit // MB:,} MB (set from --max-document-mb)" if _address_limit else ""
        raise PrepareError(stage, InputError(
            f"out of memory {'reading the PDF' if stage == 'ingest' else 'planning'}{where}")) from None
    except Exception as exc:  # noqa: BLE001 — whatever a hostile file does, it fails that file only
        what = "while reading the PDF" if stage == "ingest" else "while planning"
        raise PrepareError(stage, InputError(f"unexpected {type(exc).__name__} {what}: {exc}")) from None


if __name__ == "__main__":
    # Anything printed must not corrupt the pipes (they are separate fds; stdout goes to stderr anyway).
    sys.stdout = sys.stderr
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the caller, who stops this worker itself
    configure_child()  # JSON lines on stderr, which the parent turns back into its own log records
    # Through the imported module, so that what it pickles (PrepareError) is named pipeline.run.reader.…,
    # not __main__.…, which the parent could not unpickle.
    from pipeline.run import reader as this_module

    if "--ocr" in sys.argv[4:]:  # pages may be checked for OCR: its imports now, not in a document's time limit
        from pipeline.ingest.ocr import preload

        preload()
    # after the imports (OCR's models included, so the limit counts them), before any PDF
    this_module._address_limit = limit_address_space(int(sys.argv[3]))
    this_module._serve(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False))
