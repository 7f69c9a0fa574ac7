"""The `docpipe` command: parse arguments, build a RunConfig, call one library function, exit with a code.

Exit codes: 0 every document succeeded; 1 some documents failed; 2 usage or configuration error;
3 engine unavailable; 4 another run holds the output folder's lock; 130/143 stopped by SIGINT/SIGTERM
(what finished is recorded; the next run does the rest).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from pydantic import ValidationError

from pipeline import config as defaults
from pipeline.config import EngineSettings, RunConfig, ServerSettings
from pipeline.errors import ExitCode, PipelineError
from pipeline.models import DocResult, Plan, RunReport
from pipeline.sanitize import for_terminal
from pipeline.secrets import remember

if TYPE_CHECKING:
    from rich.console import Console

EXIT_CODES_HELP = (
    "Exit codes: 0 all documents ok; 1 some documents failed; 2 usage/config error; "
    "3 engine unavailable; 4 another run holds the lock; 130/143 stopped by SIGINT/SIGTERM "
    "(finished documents recorded, the rest left for the next run)."
)
app = typer.Typer(add_completion=False, no_args_is_help=True, help=f"docpipe: cited summaries and clause "
                  f"extractions from folders of PDFs. {EXIT_CODES_HELP}")
log = logging.getLogger("pipeline")

Inputs = Annotated[list[Path], typer.Argument(help="PDF files or folders (searched recursively)")]
ModelOpt = Annotated[Optional[str], typer.Option(help="model: Hugging Face id or local folder (server: its name)")]
TaskOpt = Annotated[Optional[list[str]], typer.Option(
    "--task", help="a task to run: a name (`docpipe tasks`) or a task file (.toml); repeat for several "
    "(default: summary and clauses, or the --config file's `tasks`)")]
TasksOpt = Annotated[Optional[str], typer.Option(help="the same as --task, comma-separated: summary,clauses")]
ChecklistOpt = Annotated[Optional[Path], typer.Option(help="clause checklist CSV (name,description); default CUAD's 41")]
MaxContextOpt = Annotated[int, typer.Option(help="largest context (tokens) a prompt may use; beyond: windows")]
OverlapOpt = Annotated[float, typer.Option(help="share of a window (0-0.5) the next window repeats")]
TokenizerOpt = Annotated[Optional[str], typer.Option(help="local tokenizer folder (default: the model's, else Qwen3)")]
PasswordOpt = Annotated[Optional[str], typer.Option(envvar="DOCPIPE_PASSWORD", show_envvar=True,
                                                     help="password for encrypted PDFs (better: the env variable)")]
LogFormatOpt = Annotated[str, typer.Option("--log-format", help="text | json (one JSON object per log line)")]
MaxPagesOpt = Annotated[int, typer.Option(help="fail a PDF with more pages")]
MaxPageCharsOpt = Annotated[int, typer.Option(help="fail a PDF with a page of more characters of text")]
MaxDecompressedOpt = Annotated[int, typer.Option(help="MB one PDF stream may expand to (pypdf's limit)")]
IngestTimeoutOpt = Annotated[float, typer.Option(help="seconds reading one PDF may take; 0 = no limit")]
FollowSymlinksOpt = Annotated[bool, typer.Option(help="follow symlinks found in input folders")]
JobsOpt = Annotated[Optional[int], typer.Option("--jobs", "-j", min=1, envvar="DOCPIPE_JOBS", show_envvar=True,
                                                help="processes reading and planning PDFs (default: the cores)")]
PdfBackendOpt = Annotated[str, typer.Option(help="what extracts PDF text: pypdf | pypdfium2 (faster; "
                                            "pip install 'docpipe[pdfium]')")]
SERVER = "Server engine (each also DOCPIPE_<NAME> env)"
BaseUrlOpt = Annotated[Optional[str], typer.Option(help="model server, e.g. http://127.0.0.1:8000/v1; implies "
                                                   "--engine server", rich_help_panel=SERVER)]
KindOpt = Annotated[Optional[str], typer.Option(help="openai | vllm (also SGLang) | ollama", rich_help_panel=SERVER)]
ConcurrencyOpt = Annotated[Optional[int], typer.Option(help="requests in flight (default 8)", rich_help_panel=SERVER)]
TimeoutOpt = Annotated[Optional[float], typer.Option(help="seconds per request (default 600)", rich_help_panel=SERVER)]
RetriesOpt = Annotated[Optional[int], typer.Option(help="re-sends on 429/502/503/504 or a connection error "
                                                   "(default 4)", rich_help_panel=SERVER)]
KeyEnvOpt = Annotated[Optional[str], typer.Option(help="env variable holding the API key (default "
                                                  "DOCPIPE_API_KEY, else OPENAI_API_KEY)", rich_help_panel=SERVER)]


def _server_settings(**values: object) -> ServerSettings:
    """Server settings from the flags given (None: not given, so the environment or the default decides)."""
    try:
        return ServerSettings(**{k: v for k, v in values.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        typer.echo(f"error: --{str(error['loc'][0]).replace('_', '-')}: {error['msg']}", err=True)
        raise typer.Exit(ExitCode.USAGE) from exc
ENGINE = "Engine (vllm; each also DOCPIPE_<NAME> env or --config file)"
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="engine settings file, TOML or JSON",
                                                   rich_help_panel=ENGINE)]
DtypeOpt = Annotated[Optional[str], typer.Option(help="auto | bfloat16 | float16", rich_help_panel=ENGINE)]
QuantOpt = Annotated[Optional[str], typer.Option(help="e.g. fp8", rich_help_panel=ENGINE)]
KvOpt = Annotated[Optional[str], typer.Option(help="auto | fp8", rich_help_panel=ENGINE)]
TpOpt = Annotated[Optional[int], typer.Option(help="GPUs per engine", rich_help_panel=ENGINE)]
MemOpt = Annotated[Optional[float], typer.Option(help="GPU memory fraction", rich_help_panel=ENGINE)]
SeqsOpt = Annotated[Optional[int], typer.Option(help="max sequences at once", rich_help_panel=ENGINE)]
EagerOpt = Annotated[Optional[bool], typer.Option("--enforce-eager/--no-enforce-eager", rich_help_panel=ENGINE)]
SeedOpt = Annotated[Optional[int], typer.Option(help="sampling seed", rich_help_panel=ENGINE)]
LoadOpt = Annotated[Optional[str], typer.Option(help='"dummy": random weights', rich_help_panel=ENGINE)]


def _config(**values: object) -> RunConfig:
    """A checked RunConfig from option values (None: not given); a bad value or task file exits 2."""
    tasks = values.pop("tasks", None)
    remember(values.get("password"))  # type: ignore[arg-type]
    clean = {k: v for k, v in values.items() if v is not None}
    from pipeline.api import make_config
    from pipeline.ingest.read import require_backend

    try:
        config = make_config(tasks, **clean)  # type: ignore[arg-type]
        require_backend(config.pdf_backend)  # before the inputs are surveyed and hashed
    except PipelineError as exc:
        typer.echo(for_terminal(f"error: {exc}"), err=True)
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
            typer.echo(for_terminal(f"error: {exc}"), err=True)
            raise typer.Exit(exc.exit_code) from exc
    return None


# How `docpipe run`'s options group into the configuration (every other option is a RunConfig field).
ENGINE_FLAGS = ("dtype", "quantization", "kv_cache_dtype", "tensor_parallel_size", "gpu_memory_utilization",
                "max_num_seqs", "enforce_eager", "seed", "load_format")
SERVER_FLAGS = ("base_url", "server_kind", "concurrency", "request_timeout", "max_retries", "api_key_env")
RUN_FLAGS = ("inputs", "output", "engine", "verbose", "log_format", "ray", "config_file", "force", "retry_failed",
             "task", "tasks", "data_parallel", "batch_documents")


def _run_config(params: dict[str, Any]) -> RunConfig:
    """`docpipe run`'s options → one RunConfig: engine settings (env < --config file < flags), server
    settings, the tasks, and the RunConfig fields the other options name."""
    chosen = params["engine"] or ("server" if params["base_url"] else "vllm" if params["model"] else "extractive")
    server = _server_settings(**{k: params[k] for k in SERVER_FLAGS})
    flags = {k: params[k] for k in ENGINE_FLAGS} | {"data_parallel_size": params["data_parallel"]}
    settings = _engine_settings(chosen, params["config_file"], flags)
    fields = {k: v for k, v in params.items() if k not in (*ENGINE_FLAGS, *SERVER_FLAGS, *RUN_FLAGS)}
    return _config(**fields, engine=chosen, server=server, engine_settings=settings,
                   tasks=_task_list(params["task"], params["tasks"], params["config_file"]),
                   batch_documents=params["batch_documents"] or (256 if chosen == "vllm" else None),
                   redo="all" if params["force"] else "failed" if params["retry_failed"] else "changed")


@app.command(epilog=EXIT_CODES_HELP)
def run(
    ctx: typer.Context,
    inputs: Inputs,
    output: Annotated[Path, typer.Option("--output", "-o", help="output folder")] = Path("output"),
    engine: Annotated[Optional[str], typer.Option(help="extractive | keyword | vllm | server (default: server if "
                                                  "--base-url, vllm if --model, else extractive)")] = None,
    model: ModelOpt = None,
    task: TaskOpt = None,
    tasks: TasksOpt = None,
    checklist: ChecklistOpt = None,
    password: PasswordOpt = None,
    max_context: MaxContextOpt = 131_072,
    window_overlap: OverlapOpt = 0.10,
    tokenizer: TokenizerOpt = None,
    summary_points: Annotated[int, typer.Option(help="summary points per document")] = 8,
    thinking: Annotated[bool, typer.Option(help="Qwen3 thinking mode")] = False,
    force: Annotated[bool, typer.Option("--force", help="redo every document, even unchanged ones")] = False,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="also redo final failures")] = False,
    log_format: LogFormatOpt = "text",
    max_pages: MaxPagesOpt = defaults.MAX_PAGES,
    max_page_chars: MaxPageCharsOpt = defaults.MAX_PAGE_CHARS,
    max_decompressed_mb: MaxDecompressedOpt = defaults.MAX_DECOMPRESSED_MB,
    ingest_timeout: IngestTimeoutOpt = defaults.INGEST_TIMEOUT,
    follow_symlinks: FollowSymlinksOpt = False,
    jobs: JobsOpt = None,
    pdf_backend: PdfBackendOpt = "pypdf",
    data_parallel: Annotated[Optional[int], typer.Option(min=1, help="engine workers on this host, one per GPU (or TP group)")] = None,
    ray: Annotated[Optional[str], typer.Option(help="run on a Ray cluster: its address, or 'auto' / 'local'")] = None,
    base_url: BaseUrlOpt = None, server_kind: KindOpt = None, concurrency: ConcurrencyOpt = None,
    request_timeout: TimeoutOpt = None, max_retries: RetriesOpt = None, api_key_env: KeyEnvOpt = None,
    save_reasoning: Annotated[bool, typer.Option(help="keep thinking-mode reasoning in result.json")] = False,
    batch_documents: Annotated[Optional[int], typer.Option(help="documents per engine batch (vllm: 256, so each "
                                                                "engine configuration starts once per batch)")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
    config_file: ConfigOpt = None, dtype: DtypeOpt = None, quantization: QuantOpt = None,
    kv_cache_dtype: KvOpt = None, tensor_parallel_size: TpOpt = None, gpu_memory_utilization: MemOpt = None,
    max_num_seqs: SeqsOpt = None, enforce_eager: EagerOpt = None, seed: SeedOpt = None,
    load_format: LoadOpt = None,
) -> None:
    """Run the tasks (default: summary and clauses; `docpipe tasks` lists them) on every new or changed PDF
    under INPUTS, writing results to --output.

    Unchanged documents (same content, same configuration) are reused from the run store
    (OUT/.docpipe.sqlite); one run at a time per output folder. SIGINT/SIGTERM stop after recording what finished.
    """
    console = _logging(verbose, log_format, progress=True)
    config = _run_config(ctx.params)
    if config.engine == "extractive":  # said on a terminal; a log line (-v) under cron, where it would be noise
        note = ("note: using the model-free extractive engine (no model configured); for a model run "
                "`docpipe run DIR --engine vllm --model Qwen/Qwen3-8B` (pip install 'docpipe[vllm]')")
        console.print(note, markup=False, highlight=False) if console else log.info(note)
    try:
        report = _execute(inputs, output, config, ray, console)
    except PipelineError as exc:
        log.error("%s", exc, extra={"exit_code": int(exc.exit_code)})
        raise typer.Exit(exc.exit_code) from exc
    t = report.totals
    typer.echo(f"{int(t['documents'])} documents: {int(t['ok'])} ok, {int(t['partial'])} partial, "
               f"{int(t['failed'])} failed ({int(t.get('processed', t['documents']))} processed, "
               f"{int(t.get('reused', 0))} unchanged, {int(t.get('duplicates', 0))} duplicates); "
               f"citations verified/relocated "
               f"{t['citations_found_ratio']:.0%}; " + for_terminal(f"results in {output}"))
    raise typer.Exit(ExitCode.OK if t["ok"] == t["documents"] else ExitCode.SOME_FAILED)


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


@app.command("tasks")
def list_tasks() -> None:
    """List the bundled tasks, built-in then examples, one line each: name and what it extracts. Any
    other task is a TOML file given by its path (`docpipe run IN --task my_task.toml`; README: "Your own tasks")."""
    from pipeline.tasks.registry import BUILTIN, available_tasks

    try:
        listed = available_tasks()
    except PipelineError as exc:
        typer.echo(for_terminal(f"error: {exc}"), err=True)
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
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from exc
    return settings


def _log_result(result: DocResult) -> None:
    path = result.source.path if result.source else result.doc_id
    fields = {"doc_id": result.doc_id, "path": path, "status": result.status}
    if result.status == "ok":
        log.info("%s: ok (%s)", Path(path).name, result.route.kind if result.route else "-", extra=fields)
    for error in result.errors:
        log.warning("%s: %s [%s/%s]", result.status, error.message, error.stage, error.kind,
                    extra=fields | {"stage": error.stage, "kind": error.kind})


@app.command()
def status(
    output: Annotated[Path, typer.Argument(help="output folder of earlier runs")],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object on stdout")] = False,
) -> None:
    """What the run store of OUTPUT knows: the last run, documents done, failed (with causes), pending."""
    from pipeline.store.status import format_status, run_status

    try:
        state = run_status(output)
    except FileNotFoundError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(ExitCode.USAGE) from exc
    typer.echo(json.dumps(state, indent=2) if as_json else format_status(state))


@app.command()
def plan(
    inputs: Inputs,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object on stdout")] = False,
    model: ModelOpt = None,
    task: TaskOpt = None,
    tasks: TasksOpt = None,
    checklist: ChecklistOpt = None,
    password: PasswordOpt = None,
    max_context: MaxContextOpt = 131_072,
    window_overlap: OverlapOpt = 0.10,
    tokenizer: TokenizerOpt = None,
    max_pages: MaxPagesOpt = defaults.MAX_PAGES,
    max_page_chars: MaxPageCharsOpt = defaults.MAX_PAGE_CHARS,
    max_decompressed_mb: MaxDecompressedOpt = defaults.MAX_DECOMPRESSED_MB,
    ingest_timeout: IngestTimeoutOpt = defaults.INGEST_TIMEOUT,
    follow_symlinks: FollowSymlinksOpt = False,
    jobs: JobsOpt = None,
    pdf_backend: PdfBackendOpt = "pypdf",
) -> None:
    """Show pages, exact prompt tokens and the route of each document, without running any engine."""
    _logging(False, "text")
    from pipeline.run.core import plan_inputs

    config = _config(model=model, tasks=_task_list(task, tasks, None), checklist=checklist, password=password,
                     max_context=max_context, window_overlap=window_overlap, tokenizer=tokenizer, max_pages=max_pages,
                     max_page_chars=max_page_chars, max_decompressed_mb=max_decompressed_mb,
                     ingest_timeout=ingest_timeout, follow_symlinks=follow_symlinks, jobs=jobs, pdf_backend=pdf_backend)
    try:
        plans = plan_inputs(inputs, config)
    except PipelineError as exc:
        typer.echo(for_terminal(f"error: {exc}"), err=True)
        raise typer.Exit(exc.exit_code) from exc
    rows = [_plan_row(p) for p in plans]
    if as_json:
        sys.stdout.write(json.dumps({"documents": rows}, indent=2) + "\n")
    else:
        for row in rows:
            typer.echo(for_terminal(
                f"{row['route'] or 'FAILED':<11} {row['pages'] or '-':>5} pages {row['prompt_tokens'] or '-':>8} "
                f"tokens  {row['path']}" + (f"  ({row['error']})" if row.get("error") else "")))
    raise typer.Exit(ExitCode.SOME_FAILED if any(r.get("error") for r in rows) else ExitCode.OK)


@app.command()
def report(
    output: Annotated[Path, typer.Argument(help="an output folder written by `docpipe run`")],
) -> None:
    """Rebuild OUTPUT's HTML review report (index.html, <doc-id>/report.html) and exports (clauses.csv,
    results.jsonl) from its stored results, without running any model. Exit 1 when some stored result is
    unreadable (it is left out and named in index.html), 2 when OUTPUT holds no results."""
    _logging(False, "text")
    from pipeline.render.review import write_review

    try:
        files = write_review(output)
    except PipelineError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from exc
    if not files.reports:
        typer.echo(f"error: no results (*/result.json) in {output}", err=True)
        raise typer.Exit(ExitCode.USAGE)
    typer.echo(f"{len(files.reports)} document reports; open {files.index}; exports {files.clauses_csv.name}, "
               f"{files.results_jsonl.name}")
    raise typer.Exit(ExitCode.SOME_FAILED if files.skipped else ExitCode.OK)


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
        typer.echo(f"error: --log-format must be text or json, not {log_format!r}", err=True)
        raise typer.Exit(ExitCode.USAGE)
    console = None
    if progress and log_format == "text" and sys.stderr.isatty():
        from rich.console import Console

        console = Console(stderr=True)
    configure(logging.INFO if verbose else logging.WARNING, log_format, console)  # type: ignore[arg-type]
    return console


eval_app = typer.Typer(no_args_is_help=True, help="Score an engine against expert labels.")
app.add_typer(eval_app, name="eval")


@eval_app.command("cuad")
def eval_cuad(
    data: Annotated[Path, typer.Argument(help="a folder in CUAD's layout: pdf/ and master_clauses.csv")],
    output: Annotated[Path, typer.Option("--output", "-o", help="output folder (results, eval.json, eval.md)")],
    engine: Annotated[Optional[str], typer.Option(help="extractive | keyword | vllm | server (default: vllm if --model, else extractive)")] = None,
    model: ModelOpt = None,
    checklist: ChecklistOpt = None,
    max_context: MaxContextOpt = 131_072,
    tokenizer: TokenizerOpt = None,
    thinking: Annotated[bool, typer.Option(help="Qwen3 thinking mode")] = False,
    rescore: Annotated[bool, typer.Option(help="score the results already in --output; run no engine")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the clause task on DATA's contracts and score it against CUAD's expert spans."""
    _logging(verbose, "text")
    from pipeline.eval.evaluate import evaluate_cuad

    config = _config(engine=engine or ("vllm" if model else "extractive"), model=model, tasks=["clauses"],
                     checklist=checklist, max_context=max_context, tokenizer=tokenizer, thinking=thinking)
    try:
        report = evaluate_cuad(data, output, config, rescore=rescore, on_result=_log_result)
    except PipelineError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from exc
    o, docs = report.overall, report.documents

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1%}"

    typer.echo(f"{report.engine.name}: precision {pct(o.precision)}, recall {pct(o.recall)}, F1 {pct(o.f1)}, "
               f"page accuracy {pct(o.page_accuracy)}, absent accuracy {pct(o.absent_accuracy)}; "
               f"AUPR {pct(o.aupr)}; {docs['total']} contracts ({docs['failed']} failed, "
               f"{docs['missing_pdf']} without PDF); "
               f"{output / 'eval.json'}, {output / 'eval.md'}")
    raise typer.Exit(ExitCode.OK if docs["ok"] == docs["total"] else ExitCode.SOME_FAILED)


def main() -> None:
    app()
