"""The `docpipe` command: parse arguments, build a RunConfig, call one library function, exit with a code.

Exit codes: 0 every document succeeded (or no PDFs were found); 1 some documents failed; 2 usage or
configuration error (nothing touched); 3 engine unavailable; 4 another run holds the output folder's lock;
5 no document failed but some are partial (failed or empty pages, a failed task); 6 the output folder
failed (disk full, read-only, its lock file deleted); 130/143 stopped by SIGINT/SIGTERM (what finished is
recorded; the next run does the rest).
The options of `run`, `plan` and `eval cuad` are one table (`cli_options`): each command's body takes them
as `**params`.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import click
import typer
from pydantic import ValidationError
from typer.core import TyperArgument, TyperCommand

from pipeline.cli_options import EVAL, PLAN, RUN, grouped, takes
from pipeline.config import EngineSettings, RunConfig, ServerSettings
from pipeline import __version__
from pipeline.errors import ExitCode, PipelineError
from pipeline.install import DISTRIBUTION, install_hint
from pipeline.models import DocResult, Plan, RunReport
from pipeline.logs import RESULTS, summary_line
from pipeline.sanitize import for_terminal, path_text
from pipeline.secrets import remember

if TYPE_CHECKING:
    from rich.console import Console

EXIT_CODES_HELP = (
    "Exit codes: 0 all documents ok (or no PDFs found); 1 some documents failed; 2 usage/config error "
    "(nothing touched); 3 engine unavailable; 4 another run holds the lock; 5 some documents partial, none "
    "failed; 6 output folder failed (disk full, read-only, lock file deleted); 130/143 stopped by "
    "SIGINT/SIGTERM (finished documents recorded, the rest left for the next run)."
)
app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None, help=f"""docpipe: cited summaries
and clause extractions from folders of PDFs; every claim cites its page, and every citation is checked.

{EXIT_CODES_HELP}

\b
Examples:
  docpipe run contracts/ -o out/        # then open out/index.html
  docpipe plan contracts/               # pages, tokens and route per PDF; no engine
  docpipe status out/
  docpipe eval cuad cuad-dev/ -o eval/
Install (the distribution is {DISTRIBUTION}; PyPI's "docpipe" is another project): from docpipe's source
folder, pip install -e . (extras: -e '.[vllm]', '.[pdfium]', '.[ray]').""")
log = logging.getLogger("pipeline")
results_log = logging.getLogger(RESULTS)


class _Command(TyperCommand):
    """Help names each argument by its placeholder word only: typer would add the Python type (`<list[Path]>`)
    beside it and braces around it in the usage line."""

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params = super().get_params(ctx)
        for param in params:
            if isinstance(param, TyperArgument) and param.metavar:
                words = param.metavar + ("..." if param.nargs != 1 else "")
                param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]
                param._usage_display_name = lambda words=words: words  # type: ignore[method-assign]
        return params


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"docpipe {__version__} ({DISTRIBUTION})")
        raise typer.Exit(ExitCode.OK)


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="print docpipe's version and exit")] = False,
) -> None:
    """Options for every command."""

def _server_settings(**values: object) -> ServerSettings:
    """Server settings from the flags given (None: not given, so the environment or the default decides)."""
    try:
        return ServerSettings(**{k: v for k, v in values.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        _say(f"error: --{str(error['loc'][0]).replace('_', '-')}: {error['msg']}", err=True)
        raise typer.Exit(ExitCode.USAGE) from exc

def _config(**values: object) -> RunConfig:
    """A checked RunConfig from option values (None: not given); a bad value or task file exits 2."""
    tasks = values.pop("tasks", None)
    remember(values.get("password"))  # type: ignore[arg-type]
    clean = {k: v for k, v in values.items() if v is not None}
    from pipeline.api import make_config
    from pipeline.ingest.ocr import require_ocr
    from pipeline.store.preflight import check_config

    try:
        config = make_config(tasks, **clean)  # type: ignore[arg-type]
        check_config(config)  # before the inputs are surveyed and hashed: exit 2, nothing touched
        require_ocr(config)
    except PipelineError as exc:
        _say(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from exc
    return config


def _task_list(task: list[str] | None, tasks: str | None, config_file: Path | None) -> list[str] | None:
    """The run's tasks: --task (repeatable), else --tasks (comma-separated), else the --config file's
    `tasks`, else None (the default: summary and clauses)."""
    if task:
        return task
    if tasks:
        return [t.strip() for t in tasks.split(",") if t.strip()]
    if config_file is not None:
        from pipeline.settings import read_run_options

        try:
            return read_run_options(config_file).get("tasks")
        except PipelineError as exc:
            _say(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from exc
    return None


# How `docpipe run`'s options group into the configuration (every other option is a RunConfig field).
ENGINE_FLAGS, SERVER_FLAGS, RUN_FLAGS = grouped("engine"), grouped("server"), grouped("run")


def _reply_room(values: list[str] | None) -> dict[str, int] | None:
    """--reply-room TASK=TOKENS items (each may hold several, comma-separated) → {task: tokens}; a malformed
    item exits 2."""
    room: dict[str, int] = {}
    for part in (p.strip() for value in values or () for p in value.replace(" ", ",").split(",")):
        if not part:
            continue
        task, sep, tokens = part.partition("=")
        if not sep or not task.strip() or not tokens.strip().isdigit():
            _say(f"error: --reply-room {part!r}: expected TASK=TOKENS, e.g. summary=800", err=True)
            raise typer.Exit(ExitCode.USAGE)
        room[task.strip()] = int(tokens)
    return room or None


def _run_config(params: dict[str, Any]) -> RunConfig:
    """`docpipe run`'s options → one RunConfig: engine settings (env < --config file < flags), server
    settings, the tasks, and the RunConfig fields the other options name."""
    chosen = params["engine"] or ("server" if params["base_url"] else "vllm" if params["model"] else "extractive")
    _engine_flags_apply(chosen, {k: params[k] for k in ENGINE_FLAGS})
    server = _server_settings(**{k: params[k] for k in SERVER_FLAGS})
    flags = {k: params[k] for k in ENGINE_FLAGS} | {"data_parallel_size": params["data_parallel"]}
    settings = _engine_settings(chosen, params["config_file"], flags)
    fields = {k: v for k, v in params.items() if k not in (*ENGINE_FLAGS, *SERVER_FLAGS, *RUN_FLAGS)}
    return _config(**fields, engine=chosen, server=server, engine_settings=settings,
                   tasks=_task_list(params["task"], params["tasks"], params["config_file"]),
                   reply_room=_reply_room(params["reply_room"]),
                   batch_documents=params["batch_documents"] or (256 if chosen == "vllm" else None),
                   redo="all" if params["force"] else "failed" if params["retry_failed"] else "changed")


@app.command(cls=_Command, epilog=EXIT_CODES_HELP)
@takes(RUN)
def run(**params: Any) -> None:
    """Run the tasks (default: summary and clauses; see `docpipe tasks`) on every new or changed PDF under
    PDF_OR_FOLDER, writing results to --output.

    Unchanged documents (same content, same configuration) are reused from the run store
    (OUT/.docpipe.sqlite); one run at a time per output folder. SIGINT/SIGTERM stop after recording what finished.
    Without a model the extractive engine runs: a model-free baseline, and every output says so.

    \b
    Examples:
      docpipe run contracts/ -o out/                  # model-free baseline, no GPU needed
      docpipe run contracts/ -o out/ --task clauses --checklist my_clauses.csv
      docpipe run contracts/ -o out/ --base-url URL --model M --task contract_terms --task my_task.toml
      docpipe run contracts/ -o out/ --engine vllm --model Qwen/Qwen3-8B
      docpipe run contracts/ -o out/ --base-url http://127.0.0.1:8000/v1 --model Qwen/Qwen3-8B
    Then open out/index.html, out/fields.html, or out/results.xlsx.
    """
    inputs, output = params["inputs"], params["output"]
    console = _logging(params["verbose"], params["log_format"], progress=True)
    config = _run_config(params)
    if config.engine == "extractive":  # said on a terminal; a log line (-v) under cron, where it would be noise
        note = ("note: using the extractive engine, a model-free baseline (no model configured); "
                "for a model run "
                f"`docpipe run DIR --engine vllm --model Qwen/Qwen3-8B` ({install_hint('vllm')})")
        console.print(note, markup=False, highlight=False) if console else log.info(note)
    try:
        report = _execute(inputs, output, config, params["ray"], console)
    except PipelineError as exc:
        log.error("%s", exc, extra={"exit_code": int(exc.exit_code)})
        raise typer.Exit(exc.exit_code) from exc
    t = report.totals
    if not t["documents"]:
        message = f"no PDFs found under {', '.join(map(str, inputs))}; results in {output} list none"
        typer.echo(summary_line(message, totals=t, output=path_text(output)))
        raise typer.Exit(ExitCode.OK)
    cited = f"citations verified/relocated {t['citations_found_ratio']:.0%}; " if "citations_found_ratio" in t \
        else "no citations; "
    message = (f"{int(t['documents'])} documents: {int(t['ok'])} ok, {int(t['partial'])} partial, "
               f"{int(t['failed'])} failed ({int(t.get('processed', t['documents']))} processed, "
               f"{int(t.get('reused', 0))} unchanged, {int(t.get('duplicates', 0))} duplicates); "
               + cited + (f"{int(t['claims_unsupported'])} points with unsupported numbers; "
                          if t.get("claims_unsupported") else "")
               + f"results in {output}")
    typer.echo(summary_line(message, totals=t, output=path_text(output)))
    raise typer.Exit(exit_code(t))


def exit_code(totals: dict[str, float]) -> ExitCode:
    """0 all ok, 1 any failed, 5 none failed but some partial (see ExitCode)."""
    if totals["failed"]:
        return ExitCode.SOME_FAILED
    return ExitCode.PARTIAL if totals["partial"] else ExitCode.OK


def _engine_flags_apply(engine: str, flags: dict[str, object]) -> None:
    """Exit 2 when engine flags are given to an engine that reads none of them (a typo'd engine, or flags
    that would silently do nothing)."""
    given = [f"--{name.replace('_', '-')}" for name, value in flags.items() if value is not None]
    if given and engine in ("extractive", "keyword"):
        typer.echo(f"error: {', '.join(given)} only apply to --engine vllm (or server); the {engine} engine "
                   "runs no model", err=True)
        raise typer.Exit(ExitCode.USAGE)


def _execute(
    inputs: list[Path], output: Path, config: RunConfig, ray: str | None, console: Console | None
) -> RunReport:
    """The library call: `api.run_folder`, or the same contract on a Ray cluster (no run store there)."""
    if ray:
        from pipeline.run.ray import run_ray

        return run_ray(inputs, output, config, address=ray, on_result=_log_result)
    from pipeline.api import run_folder
    from pipeline.run.progress import TerminalProgress

    progress = TerminalProgress(console) if console else None
    return run_folder(inputs, output, config=config, on_result=_log_result, progress=progress).report


@app.command("tasks", cls=_Command)
def list_tasks() -> None:
    """List the bundled tasks, built-in then examples, one line each: name, kind and what it extracts.

    Any other task is a TOML file given by its path (see the README, "Your own tasks").

    \b
    Examples:
      docpipe tasks
      docpipe run contracts/ -o out/ --base-url URL --model M --task contract_terms
    """
    from pipeline.tasks.registry import BUILTIN, available_tasks

    try:
        listed = available_tasks()
    except PipelineError as exc:
        _say(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from exc
    width = max(len(name) for name, _ in listed)
    for name, description in listed:
        kind = "built-in" if name in BUILTIN else "example"
        typer.echo(f"{name:<{width}}  {kind:<8}  {description}")


def _engine_settings(engine: str, config_file: Path | None, flags: dict[str, object]) -> EngineSettings:
    """Env < --config file < flags; for the vllm engine, check that vllm is installed before any PDF is read."""
    from pipeline.settings import engine_settings

    try:
        settings = engine_settings(config_file, **flags)
        if engine == "vllm":
            from pipeline.engines.vllm import require_vllm

            require_vllm()
    except PipelineError as exc:
        _say(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from exc
    return settings


def _log_result(result: DocResult) -> None:
    """One line per document, naming its file, at INFO on the results logger (shown without -v)."""
    path = result.source.path if result.source else result.doc_id
    fields = {"doc_id": result.doc_id, "path": path, "status": result.status}
    name = Path(path).name
    if result.status == "ok":
        results_log.info("%s: ok (%s)", name, result.route.kind if result.route else "-", extra=fields)
    for error in result.errors:
        results_log.warning("%s: %s: %s [%s/%s]", name, result.status, error.message, error.stage, error.kind,
                            extra=fields | {"stage": error.stage, "kind": error.kind})


def _say(text: str, err: bool = False) -> None:
    """Print for people: every line with its control characters as visible symbols and secrets redacted
    (file names and error messages may come from hostile files)."""
    typer.echo("\n".join(for_terminal(line) for line in text.split("\n")), err=err)


@app.command(cls=_Command)
def status(
    output: Annotated[Path, typer.Argument(metavar="OUTPUT_FOLDER", help="output folder of earlier runs")],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object on stdout")] = False,
) -> None:
    """What the run store of OUTPUT_FOLDER knows: the last run, documents done, failed (with causes), pending.

    \b
    Examples:
      docpipe status out/
      docpipe status out/ --json
    """
    import sqlite3

    from pipeline.store.status import format_status, run_status

    try:
        state = run_status(output)
    except FileNotFoundError as exc:
        _say(f"error: {exc}", err=True)
        raise typer.Exit(ExitCode.USAGE) from exc
    except (OSError, sqlite3.Error) as exc:
        typer.echo(for_terminal(f"error: cannot read the run store of {output}: {exc}"), err=True)
        raise typer.Exit(ExitCode.OUTPUT_FAILED) from exc
    if as_json:  # JSON escapes control characters itself
        typer.echo(json.dumps(state, indent=2))
    else:
        _say(format_status(state))


@app.command(cls=_Command)
@takes(PLAN)
def plan(**params: Any) -> None:
    """Show pages, exact prompt tokens and the route of each document, without running any engine.

    \b
    Examples:
      docpipe plan contracts/
      docpipe plan contracts/ --json --max-context 32768
    """
    _logging(False, "text")
    from pipeline.run.core import plan_inputs

    fields = {k: v for k, v in params.items() if k not in ("inputs", "as_json", *RUN_FLAGS)}
    config = _config(**fields, tasks=_task_list(params["task"], params["tasks"], None),
                     reply_room=_reply_room(params["reply_room"]))
    try:
        plans = plan_inputs(params["inputs"], config)
    except PipelineError as exc:
        _say(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from exc
    rows = [_plan_row(p) for p in plans]
    if params["as_json"]:
        sys.stdout.write(json.dumps({"documents": rows}, indent=2) + "\n")
    else:
        for row in rows:
            _say(f"{row['route'] or 'FAILED':<11} {row['pages'] or '-':>5} pages {row['prompt_tokens'] or '-':>8} "
                 f"tokens  {row['path']}" + (f"  ({row['error']})" if row.get("error") else ""))
    raise typer.Exit(ExitCode.SOME_FAILED if any(r.get("error") for r in rows) else ExitCode.OK)


@app.command(cls=_Command)
def report(
    output: Annotated[Path, typer.Argument(metavar="OUTPUT_FOLDER", help="an output folder written by `docpipe run`")],
) -> None:
    """Rebuild OUTPUT_FOLDER's review report (index.html, fields.html, DOC_ID/report.html) and exports
    (results.xlsx, clauses.csv, results.jsonl) from its stored results, without running any model.

    Exit 1 when some stored result is unreadable (it is left out and named in index.html), 2 when
    OUTPUT_FOLDER holds no results.

    \b
    Example:
      docpipe report out/ && xdg-open out/index.html
    """
    _logging(False, "text")
    import sqlite3

    from pipeline.render.review import write_review
    from pipeline.store.current import current_documents
    from pipeline.store.failures import output_error

    try:
        files = write_review(output, documents=current_documents(output) if output.is_dir() else None)
    except PipelineError as exc:
        _say(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from exc
    except (OSError, sqlite3.Error) as exc:
        error = output_error(output, exc)
        typer.echo(for_terminal(f"error: {error or exc}"), err=True)
        raise typer.Exit(ExitCode.OUTPUT_FAILED) from exc
    if not files.reports:
        _say(f"error: no results (*/result.json) in {output}", err=True)
        raise typer.Exit(ExitCode.USAGE)
    _say(f"{len(files.reports)} document reports; open {files.index} (or {files.fields.name}); "
         f"exports {files.xlsx.name}, {files.clauses_csv.name}, {files.results_jsonl.name}")
    raise typer.Exit(ExitCode.SOME_FAILED if files.skipped else ExitCode.OK)


@app.command()
def prune(
    output: Annotated[Path, typer.Argument(help="an output folder written by `docpipe run`")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only list what would be removed")] = False,
) -> None:
    """Remove OUTPUT's result folders that no input of the last run holds any more (superseded by a changed
    file, or of a file that is gone), listing each first. The review and exports never show them."""
    _logging(False, "text")
    from pipeline.store.prune import prune as prune_folders

    try:
        stale = prune_folders(output, dry_run=dry_run)
    except FileNotFoundError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(ExitCode.USAGE) from exc
    except PipelineError as exc:
        typer.echo(for_terminal(f"error: {exc}"), err=True)
        raise typer.Exit(exc.exit_code) from exc
    verb = "would remove" if dry_run else "removed"
    for item in stale:
        typer.echo(for_terminal(f"{verb} {item.folder}/ (last seen as {item.last_path or '?'}, "
                                f"{item.status or 'no stored result'})"))
    typer.echo(f"{len(stale)} result folder(s) no current input needs: {verb}")


def _plan_row(item: Plan | DocResult) -> dict[str, object]:
    if isinstance(item, DocResult):
        return {"doc_id": item.doc_id, "path": item.source.path if item.source else None, "pages": None,
                "route": None, "prompt_tokens": None, "error": item.errors[0].message}
    route = item.route
    return {
        "doc_id": item.document.doc_id, "path": item.document.source.path, "pages": item.document.source.page_count,
        "route": route.kind, "prompt_tokens": route.prompt_tokens, "output_reserve": route.output_reserve,
        "total_tokens": route.total_tokens, "task_tokens": route.task_tokens,
        "windows": [w.model_dump() for w in route.windows],
    }


def _logging(verbose: bool, log_format: str, progress: bool = False) -> Console | None:
    """Configure logging; returns the rich console of the progress display when there is one (a terminal)."""
    from pipeline.logs import configure

    if log_format not in ("text", "json"):
        _say(f"error: --log-format must be text or json, not {log_format!r}", err=True)
        raise typer.Exit(ExitCode.USAGE)
    console = None
    if progress and log_format == "text" and sys.stderr.isatty():
        from rich.console import Console

        console = Console(stderr=True)
    configure(logging.INFO if verbose else logging.WARNING, log_format, console)  # type: ignore[arg-type]
    return console


eval_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Score an engine against expert labels.")
app.add_typer(eval_app, name="eval")


@eval_app.command("cuad", cls=_Command)
@takes(EVAL)
def eval_cuad(**params: Any) -> None:
    """Run the clause task on CUAD_FOLDER's contracts and score it against CUAD's expert spans.

    \b
    Examples:
      docpipe eval cuad cuad-dev/ -o eval-extractive/
      docpipe eval cuad cuad-dev/ -o eval-held-out/ --split held-out
      docpipe eval cuad cuad-dev/ -o eval-qwen/ --base-url http://127.0.0.1:8000/v1 --model Qwen/Qwen3-8B
    """
    _logging(params["verbose"], "text")
    from pipeline.eval.evaluate import evaluate_cuad
    from pipeline.eval.split import SPLITS

    output, split = params["output"], params["split"]
    if split not in SPLITS:
        typer.echo(f"error: --split must be one of {', '.join(SPLITS)}, not {split!r}", err=True)
        raise typer.Exit(ExitCode.USAGE)
    server = _server_settings(**{k: params[k] for k in SERVER_FLAGS})
    chosen = params["engine"] or ("server" if params["base_url"] else "vllm" if params["model"] else "extractive")
    fields = {k: params[k] for k in ("model", "checklist", "max_context", "tokenizer", "thinking", "jobs")}
    config = _config(**fields, engine=chosen, tasks=["clauses"], server=server)
    try:
        report = evaluate_cuad(params["data"], output, config, rescore=params["rescore"], on_result=_log_result,
                               split=split)  # type: ignore[arg-type]  # checked against SPLITS above
    except PipelineError as exc:
        _say(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from exc
    o, docs = report.overall, report.documents

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1%}"

    _say(f"{report.engine.name}: precision {pct(o.precision)}, recall {pct(o.recall)}, F1 {pct(o.f1)}, "
               f"page accuracy {pct(o.page_accuracy)}, absent accuracy {pct(o.absent_accuracy)}; "
               f"AUPR {pct(o.aupr)}; {docs['total']} contracts ({docs['failed']} failed, "
               f"{docs['missing_pdf']} without PDF); "
               f"{output / 'eval.json'}, {output / 'eval.md'}")
    raise typer.Exit(ExitCode.OK if docs["ok"] == docs["total"] else ExitCode.SOME_FAILED)


def main() -> None:
    app()
