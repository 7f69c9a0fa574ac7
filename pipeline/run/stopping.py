"""Clean stops on SIGINT and SIGTERM.

Contract: inside `stop_on_signals()` the first SIGINT or SIGTERM only sets the yielded flag: the runner
then finishes the documents whose engine replies it already has (writes and records them), abandons
the ones not yet sent to the engine, writes run_report.json and raises `Interrupted` (exit code 130
for SIGINT, 143 for SIGTERM). A second signal raises `Interrupted` at once, abandoning the batch in
flight; its documents are redone by the next run. Handlers are installed only in the main thread and
the previous ones are restored on exit.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from pipeline.errors import ExitCode, Interrupted

log = logging.getLogger(__name__)

EXIT_CODES = {signal.SIGINT: ExitCode.INTERRUPTED, signal.SIGTERM: ExitCode.TERMINATED}


class StopFlag:
    """Set by the first signal; read by the runner between documents."""

    def __init__(self) -> None:
        self.signum: int | None = None

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str | None:
        return signal.Signals(self.signum).name if self.signum is not None else None

    def error(self, message: str) -> Interrupted:
        code = EXIT_CODES.get(signal.Signals(self.signum or signal.SIGINT), ExitCode.INTERRUPTED)
        return Interrupted(f"stopped by {self.name}: {message}", code)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[StopFlag]:
    """Catch SIGINT/SIGTERM for the duration of the block (see the module docstring)."""
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        if flag.requested:
            raise flag.error("second signal: the batch in flight is abandoned and will be redone")
        flag.signum = signum
        log.warning("%s received: finishing the documents in hand, then stopping (again to stop at once)",
                    flag.name)

    previous = {sig: signal.signal(sig, handle) for sig in EXIT_CODES}
    try:
        yield flag
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
