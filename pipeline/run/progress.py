"""The run's progress display: documents and tokens done, rate and ETA — on a terminal only.

Contract: the runner calls `begin(todo, reused)` once, `advance(report)` after each recorded document,
and `end()` once. `TerminalProgress` draws a rich progress bar on stderr; without a terminal (cron,
pipes, CI) the CLI passes no progress at all and the run logs only problems and one summary line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from pipeline.models import DocReport

if TYPE_CHECKING:
    from rich.console import Console


class RunProgress(Protocol):
    def begin(self, todo: int, reused: int) -> None: ...

    def advance(self, report: DocReport) -> None: ...

    def end(self) -> None: ...


class TerminalProgress:
    """A rich progress bar: `documents ━━━━ 12/60 · 1.2M prompt tokens (34k/s) · 0:00:31 · ETA 0:02:05`."""

    def __init__(self, console: Console) -> None:
        # rich is imported here, not at module level: a run with nothing to do should start fast
        from rich.progress import (
            BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
        )

        self.console = console
        self.bar = Progress(
            TextColumn("[bold]documents"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[tokens]}"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=False,
        )
        self.task: Any = None
        self.tokens = 0

    def begin(self, todo: int, reused: int) -> None:
        if reused:
            self.console.print(f"{reused} documents unchanged since an earlier run: reused", highlight=False)
        if todo:
            self.bar.start()
            self.task = self.bar.add_task("run", total=todo, tokens="")

    def advance(self, report: DocReport) -> None:
        self.tokens += report.prompt_tokens or 0
        if self.task is not None:
            elapsed = self.bar.tasks[0].elapsed or 0.0
            rate = f" ({_short(self.tokens / elapsed)}/s)" if elapsed > 0 else ""
            self.bar.update(self.task, advance=1, tokens=f"· {_short(self.tokens)} prompt tokens{rate} ·")

    def end(self) -> None:
        self.bar.stop()


def _short(n: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"
