"""Log output for the CLI: plain text for people, or one JSON object per line for log collectors.

Contract: `configure(level, fmt, console)` installs one stderr handler on the root logger (library
modules just call `getLogger(__name__)`). With `fmt="json"` every line is `{"time", "level", "logger", "message",
…}` plus the record's extra fields (e.g. `path`, `doc_id`, `status`). With a rich `console` (a terminal
with a progress bar) log lines print above the bar instead of through it. Whatever the format, a message
is one line with its control characters made visible and known secrets redacted (`sanitize`): a hostile
file name cannot steer the terminal or forge log lines.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Literal

from pipeline.sanitize import SafeFormatter, for_terminal
from pipeline.secrets import redact

if TYPE_CHECKING:
    from rich.console import Console

LogFormat = Literal["text", "json"]
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": for_terminal(record.getMessage()),
        }
        line |= {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(level: int, fmt: LogFormat = "text", console: Console | None = None) -> None:
    """docpipe's records at `level` and above, other libraries' (pypdf, transformers…) at WARNING and
    above, all to stderr in `fmt` — so that under `--log-format json` every stderr line is JSON."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "docpipe", False)]:
        root.removeHandler(old)
    handler: logging.Handler
    if fmt == "json":
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
    elif console is not None:
        from rich.logging import RichHandler

        handler = RichHandler(console=console, show_time=False, show_path=False, markup=False)
        handler.setFormatter(SafeFormatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(SafeFormatter("%(levelname)s %(name)s: %(message)s"))
    handler.docpipe = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("pipeline").setLevel(level)
