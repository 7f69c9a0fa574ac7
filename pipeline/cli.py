"""The `docpipe` command: parse arguments, build a RunConfig, call one library function, exit with a code.

Exit codes: 0 every document succeeded (or no PDFs were found); 1 some documents failed; 2 usage or
configuration error (nothing touched); 3 engine unavailable; 4 another run holds the output folder's lock;
5 no document failed but some are partial (failed or empty pages, a failed task); 6 the output folder
failed (disk full, read-only, its lock file deleted); 130/143 stopped by SIGINT/SIGTERM (what finished is
recorded; the next run does the rest).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import click
import typer
from pydantic import ValidationError
from typer.core import TyperArgument, TyperCommand

from pipeline import config as defaults
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

# Placeholders are words (FOLDER, TOKENS), never types; every option says what it does. Help is plain text
# (rich_markup_mode=None): rich markup would swallow `[pdfium]`-like text and `\b` keeps examples as written.
Inputs = Annotated[list[Path], typer.Argument(metavar="PDF_OR_FOLDER",
                                              help="PDF files or folders (searched recursively)")]
ModelOpt = Annotated[Optional[str], typer.Option(metavar="MODEL",
                                                 help="model: Hugging Face id or local folder (server: its name)")]
TaskOpt = Annotated[Optional[list[str]], typer.Option(
    "--task", metavar="TASK", help="a task to run: a name (see `docpipe tasks`) or a task file (.toml); repeat for "
    "several (default: summary and clauses, or the --config file's tasks)")]
TasksOpt = Annotated[Optional[str], typer.Option(metavar="TASKS", help="the same as --task, comma-separated: "
                                                 "summary,clauses")]
ReplyRoomOpt = Annotated[Optional[list[str]], typer.Option(
    "--reply-room", metavar="TASK=TOKENS", envvar="DOCPIPE_REPLY_ROOM",
    help="reply room (output tokens) for a task's reply, e.g. summary=800 (default: the task's own: summary "
    "2048, clauses 4096); repeat, or comma-separate, for several")]
ChecklistOpt = Annotated[Optional[Path], typer.Option(metavar="CSV_FILE", help="clause checklist CSV with columns "
                                                      "name,description (default: CUAD's 41 categories)")]
MaxContextOpt = Annotated[int, typer.Option(metavar="TOKENS", help="largest context a prompt may use; a longer "
                                            "document is read in windows")]
OverlapOpt = Annotated[float, typer.Option(metavar="SHARE", help="share of a window (0-0.5) the next window repeats")]
TokenizerOpt = Annotated[Optional[str], typer.Option(metavar="FOLDER", help="local tokenizer folder (default: the "
                                                     "model's, else the bundled Qwen3 tokenizer)")]
PasswordOpt = Annotated[Optional[str], typer.Option(metavar="PASSWORD", envvar="DOCPIPE_PASSWORD", show_envvar=True,
                                                     help="password for encrypted PDFs (better: the env variable, "
                                                          "which stays out of the process list)")]
LogFormatOpt = Annotated[str, typer.Option("--log-format", metavar="FORMAT",
                                           help="text, or json (one JSON object per log line)")]
MaxPagesOpt = Annotated[int, typer.Option(metavar="PAGES", envvar="DOCPIPE_MAX_PAGES",
                                          help="fail a PDF with more pages")]
MaxPageCharsOpt = Annotated[int, typer.Option(metavar="CHARACTERS", envvar="DOCPIPE_MAX_PAGE_CHARS",
                                              help="fail a PDF with a page of more characters of text")]
MaxDecompressedOpt = Annotated[int, typer.Option(metavar="MEGABYTES", envvar="DOCPIPE_MAX_DECOMPRESSED_MB",
                                                 help="how far one PDF stream may expand (pypdf's limit)")]
MaxDocumentOpt = Annotated[int, typer.Option(metavar="MEGABYTES", envvar="DOCPIPE_MAX_DOCUMENT_MB",
                                             help="how far all streams of one PDF may expand together; also "
                                                  "bounds the reader processes' address space")]
IngestTimeoutOpt = Annotated[float, typer.Option(metavar="SECONDS", envvar="DOCPIPE_INGEST_TIMEOUT",
                                                 help="time reading one PDF may take; 0 = no limit")]
FollowSymlinksOpt = Annotated[bool, typer.Option(help="follow symlinks found in input folders")]
JobsOpt = Annotated[Optional[int], typer.Option("--jobs", "-j", metavar="PROCESSES", min=1, envvar="DOCPIPE_JOBS",
                                                show_envvar=True,
                                                help="processes reading and planning PDFs (default: the cores)")]
PdfBackendOpt = Annotated[str, typer.Option(metavar="BACKEND", help="what extracts PDF text: pypdf, or pypdfium2 "
                                            f"(several times faster; needs {install_hint('pdfium')})")]
BaseUrlOpt = Annotated[Optional[str], typer.Option(metavar="URL", help="server engine: the model server, e.g. "
                                                   "http://127.0.0.1:8000/v1; implies --engine server "
                                                   "(env DOCPIPE_BASE_URL)")]
KindOpt = Annotated[Optional[str], typer.Option(metavar="KIND", help="server engine: openai, vllm (also SGLang) or "
                                                "ollama (env DOCPIPE_SERVER_KIND; default openai)")]
ConcurrencyOpt = Annotated[Optional[int], typer.Option(metavar="REQUESTS", help="server engine: requests in flight "
                                                       "(env DOCPIPE_CONCURRENCY; default 8)")]
TimeoutOpt = Annotated[Optional[float], typer.Option(metavar="SECONDS", help="server engine: time one request may "
                                                     "take (env DOCPIPE_REQUEST_TIMEOUT; default 600)")]
RetriesOpt = Annotated[Optional[int], typer.Option(metavar="COUNT", help="server engine: re-sends on 429/502/503/504 "
                                                   "or a connection error (env DOCPIPE_MAX_RETRIES; default 4)")]
KeyEnvOpt = Annotated[Optional[str], typer.Option(metavar="VARIABLE", help="server engine: the environment variable "
                                                  "holding the API key (default DOCPIPE_API_KEY, else OPENAI_API_KEY)")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="log each document as it finishes, and what the "
                                          "engine does (INFO level; default: warnings and errors only)")]
OcrOpt = Annotated[Optional[str], typer.Option(metavar="MODE", help="auto: OCR pages without a usable text layer "
                                               "(the default; needs the ocr extra: " + install_hint("ocr") + "), "
                                               "never, or always (every page)")]
OcrMaxPixelsOpt = Annotated[Optional[int], typer.Option(metavar="PIXELS", help="per-page limit on the image OCR "
                                                       "reads (default 25,000,000); a larger page is rendered coarser")]
OcrEngineOpt = Annotated[Optional[str], typer.Option(metavar="ENGINE", help="rapidocr (the default, the ocr extra) "
                                                     "or tesseract (Debian's `tesseract` on PATH)")]
OcrPageTimeoutOpt = Annotated[Optional[float], typer.Option(metavar="SECONDS", help="CPU seconds the OCR of one page "
                                                           "may take (default 60; 0 = none); a page over it fails "
                                                           "alone and its document is partial")]
OcrImagesOpt = Annotated[bool, typer.Option(help="write each OCR'd page's image beside its result, for the review "
                                            "report")]


def _server_settings(**values: object) -> ServerSettings:
    """Server settings from the flags given (None: not given, so the environment or the default decides)."""
    try:
        return ServerSettings(**{k: v for k, v in values.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        _say(f"error: --{str(error['loc'][0]).replace('_', '-')}: {error['msg']}", err=True)
        raise typer.Exit(ExitCode.USAGE) from exc
# vLLM engine settings: each also a DOCPIPE_<NAME> env variable or a key of the --config file.
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", metavar="FILE", help="vllm engine: settings file, "
                                                   "TOML or JSON (env < file < these flags)")]
DtypeOpt = Annotated[Optional[str], typer.Option(metavar="DTYPE", help="vllm engine: weight type, auto, bfloat16 or "
                                                 "float16 (env DOCPIPE_DTYPE)")]
QuantOpt = Annotated[Optional[str], typer.Option(metavar="METHOD", help="vllm engine: quantization method, e.g. fp8 "
                                                 "(env DOCPIPE_QUANTIZATION)")]
KvOpt = Annotated[Optional[str], typer.Option(metavar="DTYPE", help="vllm engine: KV cache type, auto or fp8 "
                                              "(env DOCPIPE_KV_CACHE_DTYPE)")]
TpOpt = Annotated[Optional[int], typer.Option(metavar="GPUS", help="vllm engine: GPUs one engine spans (tensor "
                                              "parallel; env DOCPIPE_TENSOR_PARALLEL_SIZE)")]
MemOpt = Annotated[Optional[float], typer.Option(metavar="FRACTION", help="vllm engine: share of GPU memory it may "
                                                 "take, 0-1 (env DOCPIPE_GPU_MEMORY_UTILIZATION)")]
SeqsOpt = Annotated[Optional[int], typer.Option(metavar="SEQUENCES", help="vllm engine: sequences decoded at once "
                                                "(env DOCPIPE_MAX_NUM_SEQS)")]
EagerOpt = Annotated[Optional[bool], typer.Option("--enforce-eager/--no-enforce-eager",
                                                  help="vllm engine: run without CUDA graphs (starts faster, decodes "
                                                       "slower; for debugging; env DOCPIPE_ENFORCE_EAGER)")]
SeedOpt = Annotated[Optional[int], typer.Option(metavar="NUMBER", help="vllm engine: sampling seed (env DOCPIPE_SEED)")]
LoadOpt = Annotated[Optional[str], typer.Option(metavar="FORMAT", help='vllm engine: weight loading; "dummy" = random '
                                                "weights, for tests (env DOCPIPE_LOAD_FORMAT)")]


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
ENGINE_FLAGS = ("dtype", "quantization", "kv_cache_dtype", "tensor_parallel_size", "gpu_memory_utilization",
                "max_num_seqs", "enforce_eager", "seed", "load_format")
SERVER_FLAGS = ("base_url", "server_kind", "concurrency", "request_timeout", "max_retries", "api_key_env")
RUN_FLAGS = ("inputs", "output", "engine", "verbose", "log_format", "ray", "config_file", "force", "retry_failed",
             "task", "tasks", "data_parallel", "batch_documents", "reply_room")


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
def run(
    ctx: typer.Context,
    inputs: Inputs,
    output: Annotated[Path, typer.Option("--output", "-o", metavar="FOLDER", help="output folder")] = Path("output"),
    engine: Annotated[Optional[str], typer.Option(metavar="ENGINE", help="extractive or keyword (model-free "
                                                  "baselines), vllm, or server (default: server with --base-url, "
                                                  "vllm with --model, else extractive)")] = None,
    model: ModelOpt = None,
    task: TaskOpt = None,
    tasks: TasksOpt = None,
    reply_room: ReplyRoomOpt = None,
    checklist: ChecklistOpt = None,
    password: PasswordOpt = None,
    max_context: MaxContextOpt = 131_072,
    window_overlap: OverlapOpt = 0.10,
    tokenizer: TokenizerOpt = None,
    summary_points: Annotated[int, typer.Option(metavar="COUNT", help="summary points per document")] = 8,
    thinking: Annotated[bool, typer.Option(help="Qwen3 thinking mode (the model reasons before it answers)")] = False,
    force: Annotated[bool, typer.Option("--force", help="redo every document, even unchanged ones")] = False,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="also redo documents that failed before "
                                               "(default: only new or changed ones)")] = False,
    reconfigure: Annotated[bool, typer.Option("--reconfigure", help="use an output folder made with other "
                                              "settings (their results are redone); else such a run exits 2")] = False,
    log_format: LogFormatOpt = "text",
    max_pages: MaxPagesOpt = defaults.MAX_PAGES,
    max_page_chars: MaxPageCharsOpt = defaults.MAX_PAGE_CHARS,
    max_decompressed_mb: MaxDecompressedOpt = defaults.MAX_DECOMPRESSED_MB,
    max_document_mb: MaxDocumentOpt = defaults.MAX_DOCUMENT_MB,
    ingest_timeout: IngestTimeoutOpt = defaults.INGEST_TIMEOUT,
    follow_symlinks: FollowSymlinksOpt = False,
    jobs: JobsOpt = None,
    pdf_backend: PdfBackendOpt = "pypdf",
    ocr: OcrOpt = None,
    ocr_images: OcrImagesOpt = False,
    ocr_max_pixels: OcrMaxPixelsOpt = None,
    ocr_page_timeout: OcrPageTimeoutOpt = None,
    ocr_engine: OcrEngineOpt = None,
    data_parallel: Annotated[Optional[int], typer.Option(min=1, metavar="WORKERS", help="engine workers on this "
                                                         "host, one per GPU (or tensor-parallel group)")] = None,
    ray: Annotated[Optional[str], typer.Option(metavar="ADDRESS", help="run on a Ray cluster: its address, or auto "
                                               f"or local ({install_hint('ray')})")] = None,
    base_url: BaseUrlOpt = None, server_kind: KindOpt = None, concurrency: ConcurrencyOpt = None,
    request_timeout: TimeoutOpt = None, max_retries: RetriesOpt = None, api_key_env: KeyEnvOpt = None,
    save_reasoning: Annotated[bool, typer.Option(help="keep thinking-mode reasoning in result.json")] = False,
    batch_documents: Annotated[Optional[int], typer.Option(metavar="DOCUMENTS", help="documents in flight at "
                                                           "once, each written as soon as it is done (vllm "
                                                           "default 256, to keep the batch full)")] = None,
    verbose: VerboseOpt = False,
    config_file: ConfigOpt = None, dtype: DtypeOpt = None, quantization: QuantOpt = None,
    kv_cache_dtype: KvOpt = None, tensor_parallel_size: TpOpt = None, gpu_memory_utilization: MemOpt = None,
    max_num_seqs: SeqsOpt = None, enforce_eager: EagerOpt = None, seed: SeedOpt = None,
    load_format: LoadOpt = None,
) -> None:
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
    console = _logging(verbose, log_format, progress=True)
    config = _run_config(ctx.params)
    if config.engine == "extractive":  # said on a terminal; a log line (-v) under cron, where it would be noise
        note = ("note: using the extractive engine, a model-free baseline (no model configured); "
                "for a model run "
                f"`docpipe run DIR --engine vllm --model Qwen/Qwen3-8B` ({install_hint('vllm')})")
        console.print(note, markup=False, highlight=False) if console else log.info(note)
    try:
        report = _execute(inputs, output, config, ray, console)
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
def plan(
    inputs: Inputs,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object on stdout")] = False,
    model: ModelOpt = None,
    task: TaskOpt = None,
    tasks: TasksOpt = None,
    reply_room: ReplyRoomOpt = None,
    checklist: ChecklistOpt = None,
    password: PasswordOpt = None,
    max_context: MaxContextOpt = 131_072,
    window_overlap: OverlapOpt = 0.10,
    tokenizer: TokenizerOpt = None,
    max_pages: MaxPagesOpt = defaults.MAX_PAGES,
    max_page_chars: MaxPageCharsOpt = defaults.MAX_PAGE_CHARS,
    max_decompressed_mb: MaxDecompressedOpt = defaults.MAX_DECOMPRESSED_MB,
    max_document_mb: MaxDocumentOpt = defaults.MAX_DOCUMENT_MB,
    ingest_timeout: IngestTimeoutOpt = defaults.INGEST_TIMEOUT,
    follow_symlinks: FollowSymlinksOpt = False,
    jobs: JobsOpt = None,
    pdf_backend: PdfBackendOpt = "pypdf",
    ocr: OcrOpt = None,
) -> None:
    """Show pages, exact prompt tokens and the route of each document, without running any engine.

    \b
    Examples:
      docpipe plan contracts/
      docpipe plan contracts/ --json --max-context 32768
    """
    _logging(False, "text")
    from pipeline.run.core import plan_inputs

    config = _config(model=model, tasks=_task_list(task, tasks, None), reply_room=_reply_room(reply_room),
                     checklist=checklist, password=password,
                     max_context=max_context, window_overlap=window_overlap, tokenizer=tokenizer, max_pages=max_pages,
                     max_page_chars=max_page_chars, max_decompressed_mb=max_decompressed_mb,
                     max_document_mb=max_document_mb,
                     ingest_timeout=ingest_timeout, follow_symlinks=follow_symlinks, jobs=jobs, pdf_backend=pdf_backend,
                     ocr=ocr)
    try:
        plans = plan_inputs(inputs, config)
    except PipelineError as exc:
        _say(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from exc
    rows = [_plan_row(p) for p in plans]
    if as_json:
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
def eval_cuad(
    data: Annotated[Path, typer.Argument(metavar="CUAD_FOLDER", help="a folder in CUAD's layout: pdf/ and "
                                         "master_clauses.csv")],
    output: Annotated[Path, typer.Option("--output", "-o", metavar="FOLDER", help="output folder (results, "
                                         "eval.json, eval.md)")],
    engine: Annotated[Optional[str], typer.Option(metavar="ENGINE", help="extractive or keyword (model-free "
                                                  "baselines), vllm, or server (default: server with --base-url, "
                                                  "vllm with --model, else extractive)")] = None,
    model: ModelOpt = None,
    checklist: ChecklistOpt = None,
    split: Annotated[str, typer.Option(metavar="SPLIT", help="score all contracts, or one fixed half: tune (for "
                                       "tuning) or held-out (for reporting); see docs/evaluation.md")] = "all",
    max_context: MaxContextOpt = 131_072,
    tokenizer: TokenizerOpt = None,
    thinking: Annotated[bool, typer.Option(help="Qwen3 thinking mode (the model reasons before it answers)")] = False,
    rescore: Annotated[bool, typer.Option(help="score the results already in --output; run no engine")] = False,
    jobs: JobsOpt = None,
    base_url: BaseUrlOpt = None, server_kind: KindOpt = None, concurrency: ConcurrencyOpt = None,
    request_timeout: TimeoutOpt = None, max_retries: RetriesOpt = None, api_key_env: KeyEnvOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Run the clause task on CUAD_FOLDER's contracts and score it against CUAD's expert spans.

    \b
    Examples:
      docpipe eval cuad cuad-dev/ -o eval-extractive/
      docpipe eval cuad cuad-dev/ -o eval-held-out/ --split held-out
      docpipe eval cuad cuad-dev/ -o eval-qwen/ --base-url http://127.0.0.1:8000/v1 --model Qwen/Qwen3-8B
    """
    _logging(verbose, "text")
    from pipeline.eval.evaluate import evaluate_cuad
    from pipeline.eval.split import SPLITS

    if split not in SPLITS:
        typer.echo(f"error: --split must be one of {', '.join(SPLITS)}, not {split!r}", err=True)
        raise typer.Exit(ExitCode.USAGE)
    server = _server_settings(base_url=base_url, server_kind=server_kind, concurrency=concurrency,
                              request_timeout=request_timeout, max_retries=max_retries, api_key_env=api_key_env)
    chosen = engine or ("server" if base_url else "vllm" if model else "extractive")
    config = _config(engine=chosen, model=model, tasks=["clauses"], checklist=checklist, max_context=max_context,
                     tokenizer=tokenizer, thinking=thinking, server=server, jobs=jobs)
    try:
        report = evaluate_cuad(data, output, config, rescore=rescore, on_result=_log_result,
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
