"""The `docpipe` command: parse arguments, build a RunConfig, call one library function, exit with a code.

Exit codes: 0 every document succeeded; 1 some documents failed; 2 usage or configuration error;
3 engine unavailable; 4 another run holds the output folder's lock.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from pydantic import ValidationError

from pipeline.config import EngineSettings, RunConfig
from pipeline.errors import ExitCode, PipelineError
from pipeline.models import DocResult, Plan

EXIT_CODES_HELP = (
    "Exit codes: 0 all documents ok; 1 some documents failed; 2 usage/config error; "
    "3 engine unavailable; 4 another run holds the lock."
)
app = typer.Typer(add_completion=False, no_args_is_help=True, help=f"docpipe: cited summaries and clause "
                  f"extractions from folders of PDFs. {EXIT_CODES_HELP}")
log = logging.getLogger("pipeline")

Inputs = Annotated[list[Path], typer.Argument(help="PDF files or folders (searched recursively)")]
ModelOpt = Annotated[Optional[str], typer.Option(help="model: Hugging Face id or local folder")]
TasksOpt = Annotated[str, typer.Option(help="comma-separated tasks: summary,clauses")]
ChecklistOpt = Annotated[Optional[Path], typer.Option(help="clause checklist CSV (name,description); default CUAD's 41")]
MaxContextOpt = Annotated[int, typer.Option(help="largest context (tokens) a prompt may use; beyond: windows")]
TokenizerOpt = Annotated[Optional[str], typer.Option(help="local tokenizer folder (default: the model's, else Qwen3)")]
PasswordOpt = Annotated[Optional[str], typer.Option(help="password for encrypted PDFs")]
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
    tasks = str(values.pop("tasks"))
    clean = {k: v for k, v in values.items() if v is not None}
    try:
        return RunConfig(tasks=tuple(t.strip() for t in tasks.split(",") if t.strip()), **clean)  # type: ignore[arg-type]
    except ValidationError as exc:
        typer.echo(f"error: invalid configuration: {exc.errors()[0]['msg']}", err=True)
        raise typer.Exit(ExitCode.USAGE) from exc


@app.command()
def run(
    inputs: Inputs,
    output: Annotated[Path, typer.Option("--output", "-o", help="output folder")] = Path("output"),
    engine: Annotated[Optional[str], typer.Option(help="extractive | vllm | server (default: vllm if --model, else extractive)")] = None,
    model: ModelOpt = None,
    tasks: TasksOpt = "summary,clauses",
    checklist: ChecklistOpt = None,
    password: PasswordOpt = None,
    max_context: MaxContextOpt = 131_072,
    tokenizer: TokenizerOpt = None,
    summary_points: Annotated[int, typer.Option(help="summary points per document")] = 8,
    thinking: Annotated[bool, typer.Option(help="Qwen3 thinking mode")] = False,
    save_reasoning: Annotated[bool, typer.Option(help="keep thinking-mode reasoning in result.json")] = False,
    batch_documents: Annotated[Optional[int], typer.Option(help="documents per engine batch (vllm: 256, so each "
                                                                "engine configuration starts once per batch)")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
    config_file: ConfigOpt = None, dtype: DtypeOpt = None, quantization: QuantOpt = None,
    kv_cache_dtype: KvOpt = None, tensor_parallel_size: TpOpt = None, gpu_memory_utilization: MemOpt = None,
    max_num_seqs: SeqsOpt = None, enforce_eager: EagerOpt = None, seed: SeedOpt = None,
    load_format: LoadOpt = None,
) -> None:
    """Summarise and extract clauses from every PDF under INPUTS, writing results to --output."""
    _logging(verbose)
    from pipeline.runner import run as run_pipeline

    chosen = engine or ("vllm" if model else "extractive")
    settings = _engine_settings(chosen, config_file, dict(
        dtype=dtype, quantization=quantization, kv_cache_dtype=kv_cache_dtype, seed=seed, load_format=load_format,
        tensor_parallel_size=tensor_parallel_size, gpu_memory_utilization=gpu_memory_utilization,
        max_num_seqs=max_num_seqs, enforce_eager=enforce_eager))
    config = _config(engine=chosen, model=model, tasks=tasks, checklist=checklist, password=password,
                     max_context=max_context, tokenizer=tokenizer, summary_points=summary_points,
                     thinking=thinking, save_reasoning=save_reasoning,
                     batch_documents=batch_documents or (256 if chosen == "vllm" else None),
                     engine_settings=settings)
    if chosen == "extractive":
        typer.echo("note: using the model-free extractive engine (no model configured); for a model run "
                   "`docpipe run DIR --engine vllm --model Qwen/Qwen3-8B` (pip install 'docpipe[vllm]')", err=True)
    try:
        report = run_pipeline(inputs, output, config, on_result=_print_result)
    except PipelineError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from exc
    t = report.totals
    typer.echo(f"{int(t['documents'])} documents: {int(t['ok'])} ok, {int(t['partial'])} partial, "
               f"{int(t['failed'])} failed; citations verified/relocated {t['citations_found_ratio']:.0%}; "
               f"results in {output}")
    raise typer.Exit(ExitCode.OK if t["ok"] == t["documents"] else ExitCode.SOME_FAILED)


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


def _print_result(result: DocResult) -> None:
    name = Path(result.source.path).name if result.source else result.doc_id
    if result.status == "ok":
        log.info("%s: ok (%s)", name, result.route.kind if result.route else "-")
    for error in result.errors:
        typer.echo(f"{result.status}: {error.message} [{error.stage}/{error.kind}]", err=True)


@app.command()
def plan(
    inputs: Inputs,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object on stdout")] = False,
    model: ModelOpt = None,
    tasks: TasksOpt = "summary,clauses",
    checklist: ChecklistOpt = None,
    password: PasswordOpt = None,
    max_context: MaxContextOpt = 131_072,
    tokenizer: TokenizerOpt = None,
) -> None:
    """Show pages, exact prompt tokens and the route of each document, without running any engine."""
    _logging(False)
    from pipeline.runner import plan_inputs

    config = _config(model=model, tasks=tasks, checklist=checklist, password=password,
                     max_context=max_context, tokenizer=tokenizer)
    try:
        plans = plan_inputs(inputs, config)
    except PipelineError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from exc
    rows = [_plan_row(p) for p in plans]
    if as_json:
        sys.stdout.write(json.dumps({"documents": rows}, indent=2) + "\n")
    else:
        for row in rows:
            typer.echo(f"{row['route'] or 'FAILED':<11} {row['pages'] or '-':>5} pages {row['prompt_tokens'] or '-':>8} "
                       f"tokens  {row['path']}" + (f"  ({row['error']})" if row.get("error") else ""))
    raise typer.Exit(ExitCode.SOME_FAILED if any(r.get("error") for r in rows) else ExitCode.OK)


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


def _logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def main() -> None:
    app()
