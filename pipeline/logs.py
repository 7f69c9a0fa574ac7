"""Log output for the CLI: plain text for people, or one JSON object per line for log collectors.

Contract: `configure(level, fmt, console)` installs one stderr handler on the root logger (library
modules just call `getLogger(__name__)`). Text lines start with an ISO-8601 UTC timestamp (cron keeps no
time of its own); with `fmt="json"` every line is `{"time", "level", "logger", "message", …}` plus the
record's extra fields (e.g. `path`, `doc_id`, `status`). With a rich `console` (a terminal with a progress
bar) log lines print above the bar instead of through it. Whatever the format, a message is one line with
its control characters made visible and known secrets redacted (`sanitize`): a hostile file name cannot
steer the terminal or forge log lines. `RESULTS` is the logger of the per-document lines (file, status):
at INFO even without -v, so that the default log names every file processed and failed.

Child processes (the PDF readers) log through their parent: `configure_child()` makes a child write each
record as one JSON line on its stderr, and `forward_child_stderr(stream)` (a thread in the parent) turns
each line back into a record of the parent's logging — so it is formatted, timestamped and redacted like
the parent's own — and any other line the child writes (a library printing, a warning) into a WARNING.
`summary_line(message, **fields)` is the closing line of a command in the configured format.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import datetime, timezone
from typing import IO, TYPE_CHECKING, Literal

from pipeline.sanitize import SafeFormatter, for_terminal
from pipeline.secrets import redact

if TYPE_CHECKING:
    from rich.console import Console

LogFormat = Literal["text", "json"]
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
RESULTS = "pipeline.results"  # one line per document: which file, which status
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CHILD_MARK = "docpipe-log"  # the key that marks a child's JSON log line
_format: LogFormat = "text"


def _iso(created: float) -> str:
    return datetime.fromtimestamp(created, timezone.utc).isoformat(timespec="milliseconds")


class TextFormatter(SafeFormatter):
    """`SafeFormatter` lines with an ISO-8601 UTC timestamp first."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return _iso(record.created)


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": for_terminal(record.getMessage()),
        }
        line |= {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(level: int, fmt: LogFormat = "text", console: Console | None = None) -> None:
    """docpipe's records at `level` and above (per-document result lines at INFO and above), other
    libraries' (pypdf, transformers…) at WARNING and above, all to stderr in `fmt` — so that under
    `--log-format json` every stderr line is JSON."""
    global _format
    _format = fmt
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "docpipe", False)]:
        root.removeHandler(old)
    handler: logging.Handler
    if fmt == "json":
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
    elif console is not None:
        from rich.logging import RichHandler

        handler = RichHandler(console=console, show_time=True, show_path=False, markup=False)
        handler.setFormatter(SafeFormatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(TextFormatter(TEXT_FORMAT))
    handler.docpipe = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("pipeline").setLevel(level)
    logging.getLogger(RESULTS).setLevel(min(level, logging.INFO))


def summary_line(message: str, **fields: object) -> str:
    """A command's closing line in the configured format: a JSON object (with `fields`) or timestamped text."""
    record = logging.makeLogRecord({"name": "pipeline", "levelno": logging.INFO, "levelname": "INFO",
                                    "msg": message, **fields})
    if _format == "json":
        return JsonFormatter().format(record)
    return f"{_iso(record.created)} {for_terminal(message)}"


class _ChildFormatter(logging.Formatter):
    """A child's record as one JSON line its parent can rebuild (see `forward_child_stderr`)."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        extra = {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}
        return json.dumps({CHILD_MARK: 1, "name": record.name, "levelno": record.levelno, "msg": message,
                           "created": record.created, "extra": extra}, ensure_ascii=True, default=str)


def configure_child(level: int = logging.WARNING) -> None:
    """In a child process: every record (and every Python warning) as a JSON line on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_ChildFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.captureWarnings(True)


def forward_child_stderr(stream: IO[bytes], name: str) -> threading.Thread:
    """Start a daemon thread that reads a child's stderr until it closes (module docstring); `name` is the
    logger of the lines that are not the child's log records."""

    def pump() -> None:
        with stream:
            for raw in stream:
                _forward(raw.decode("utf-8", "replace").rstrip("\r\n"), name)

    thread = threading.Thread(target=pump, name=f"{name} stderr", daemon=True)
    thread.start()
    return thread


def _forward(line: str, name: str) -> None:
    if not line.strip():
        return
    try:
        data = json.loads(line)
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get(CHILD_MARK) == 1:
        extra = data.get("extra") if isinstance(data.get("extra"), dict) else {}
        fields = {k: v for k, v in extra.items() if k not in _STANDARD}
        level = int(data.get("levelno", logging.WARNING))
        record = logging.makeLogRecord({**fields, "name": str(data.get("name")), "levelno": level,
                                        "levelname": logging.getLevelName(level), "msg": str(data.get("msg"))})
        record.created = float(data.get("created") or record.created)  # when the child logged it
    else:
        record = logging.makeLogRecord({"name": name, "levelno": logging.WARNING, "levelname": "WARNING",
                                        "msg": line})
    logger = logging.getLogger(record.name)
    if logger.isEnabledFor(record.levelno):
        logger.handle(record)
