"""The Python API: what `docpipe run` does, for notebooks and services. The CLI is a thin layer over it.

    from pipeline import run_folder, load_task
    results = run_folder("contracts/", "out/", tasks=["summary", "contract_terms"], engine="vllm", model="Qwen/Qwen3-8B")
    for doc in results:                       # DocResult models, as in OUT/<doc-id>/result.json
        print(doc.source.path, doc.extractions["contract_terms"][0].values)

Contract: `run_folder(inputs, output, tasks=..., config=..., engine=..., **options)` runs exactly what the CLI
runs — same run store (an unchanged document is reused), same files in `output` — and returns `RunResults`:
the run report and every input's `DocResult` (reused ones included), in the report's order. `inputs` and
`output` take str or Path; `tasks` takes names, paths of task files or `TaskDef`s (default: summary and
clauses); `engine` an engine's name ("extractive", "vllm", "server", …) or an engine object built by the
caller (kept open: the caller closes it); `options` are `RunConfig` fields (`engine="server"`, `model=...`, `max_context=...`), over
`config` when given. A bad option or task file raises `ConfigError` before any document is read; other
run-wide failures raise the `PipelineError` the CLI maps to its exit codes. Importing this module loads
no engine.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from pydantic import ValidationError

from pipeline.config import RunConfig
from pipeline.errors import ConfigError
from pipeline.models import DocResult, RunReport
from pipeline.tasks.registry import TaskDef, load_task, load_tasks, require_engine_runs

if TYPE_CHECKING:
    from pipeline.engines.base import Engine
    from pipeline.run.progress import RunProgress

__all__ = ["RunResults", "load_task", "make_config", "run_folder"]

PathLike = Union[str, "os.PathLike[str]"]
TaskRef = Union[str, "os.PathLike[str]", TaskDef]


@dataclass(frozen=True)
class RunResults:
    """A run's report and its documents' results (iterating gives the results)."""

    report: RunReport
    results: tuple[DocResult, ...]

    def __iter__(self) -> Iterator[DocResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)


def make_config(tasks: Sequence[TaskRef] | None = None, config: RunConfig | None = None,
                runs_on: Engine | None = None, **options: Any) -> RunConfig:
    """A checked RunConfig: `options` over `config` (or the defaults); the tasks loaded and checked (task
    files are kept by absolute path, so worker processes and later runs find the same files) against the
    engine named in the config, or `runs_on` when the run is given an engine object."""
    values: dict[str, Any] = dict(config) if config is not None else {}
    values.update(options)
    if tasks is not None:
        values["tasks"] = tuple(_task_ref(t) for t in tasks)
    try:
        made = RunConfig.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ConfigError(f"invalid configuration: {'.'.join(map(str, error['loc']))}: {error['msg']}") from exc
    tasks_run = load_tasks(made.tasks)  # every task file checked now, before any document is read
    unknown = sorted(set(made.reply_room) - {t.name for t in tasks_run})
    if unknown:
        raise ConfigError(f"--reply-room names {', '.join(unknown)}, not a task of this run "
                          f"({', '.join(t.name for t in tasks_run)})")
    from pipeline.engines.base import engine_tasks

    require_engine_runs(runs_on.name if runs_on else made.engine, engine_tasks(made, runs_on), tasks_run)
    return made


def run_folder(
    inputs: PathLike | Sequence[PathLike],
    output: PathLike,
    tasks: Sequence[TaskRef] | None = None,
    config: RunConfig | None = None,
    engine: str | Engine | None = None,
    on_result: Callable[[DocResult], None] | None = None,
    progress: RunProgress | None = None,
    **options: Any,
) -> RunResults:
    """Run the pipeline over `inputs` into `output`; see the module docstring."""
    from pipeline.run.core import run

    paths = [Path(inputs)] if isinstance(inputs, (str, os.PathLike)) else [Path(p) for p in inputs]
    if isinstance(engine, str):  # a name: the configured engine (RunConfig.engine), built by the run
        options["engine"], engine = engine, None
    made = make_config(tasks, config, runs_on=engine, **options)
    report = run(paths, Path(output), made, engine=engine, on_result=on_result, progress=progress)
    return RunResults(report, read_results(Path(output), report))


def read_results(output: Path, report: RunReport) -> tuple[DocResult, ...]:
    """The stored result of every document of `report` (a duplicate input shares its original's)."""
    results: dict[str, DocResult] = {}
    for row in report.documents:
        if row.doc_id not in results:
            path = output / row.doc_id / "result.json"
            if path.is_file():
                results[row.doc_id] = DocResult.model_validate_json(path.read_bytes())
    return tuple(results.values())


def _task_ref(task: TaskRef) -> str:
    """What RunConfig.tasks holds for a task: a bundled name as is, a file as its absolute path."""
    if isinstance(task, TaskDef):
        if not task.source:
            raise ConfigError(f"task {task.name!r}: a TaskDef must come from a file (load_task) to be run")
        return task.name if Path(task.source).parent == _bundled_dir() else task.source
    text = os.fspath(task)
    return str(Path(text).resolve()) if text.endswith(".toml") or os.sep in text or "/" in text else text


def _bundled_dir() -> Path:
    from pipeline.tasks.registry import tasks_dir

    return tasks_dir().resolve()
