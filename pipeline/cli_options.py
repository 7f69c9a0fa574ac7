"""The options of `docpipe run`, `plan` and `eval cuad`, as data: one table, one entry per option with its help.

Contract: `OPTIONS` (name → `Opt`) holds every option `docpipe run` takes, in the order its help lists them;
`RUN`, `PLAN` and `EVAL` are the commands' options, in order (`plan` and `eval cuad` take some of the table's
and a few of their own). `takes(options)` gives a command function the signature typer reads (each option a
keyword parameter with its typer declaration and default), so its body takes `**params` — the values by
name, None for an optional option not given. An `Opt`'s `group` says where its value goes in `docpipe run`'s
configuration (`cli._run_config`): "engine" (vLLM `EngineSettings`, env < --config file < flag), "server"
(`ServerSettings`), "run" (read by the command itself), or None (the `RunConfig` field of that name).

Placeholders are words (FOLDER, TOKENS), never types; every option says what it does. Help is plain text
(rich_markup_mode=None): rich markup would swallow `[pdfium]`-like text.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, TypeVar

import typer
from typer.models import ArgumentInfo, OptionInfo

from pipeline import config as defaults
from pipeline.install import install_hint

Group = Literal["engine", "server", "run"] | None
F = TypeVar("F", bound=Callable[..., Any])
REQUIRED = inspect.Parameter.empty


@dataclass(frozen=True)
class Opt:
    """One command-line parameter: its Python type, typer's declaration (flags, placeholder, help, env
    variable) and default (`REQUIRED`: none)."""

    type: Any
    info: OptionInfo | ArgumentInfo
    default: Any = None
    group: Group = None

    def parameter(self, name: str) -> inspect.Parameter:
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=self.default,
                                 annotation=Annotated[self.type, self.info])


def _option(*flags: str, **declared: Any) -> OptionInfo:
    return typer.Option(*flags, **declared)  # type: ignore[no-any-return]


_ENGINE_HELP = ("extractive or keyword (model-free baselines), vllm, or server (default: server with --base-url, "
                "vllm with --model, else extractive)")
_THINKING_HELP = "Qwen3 thinking mode (the model reasons before it answers)"

OPTIONS: dict[str, Opt] = {
    "inputs": Opt(list[Path], typer.Argument(metavar="PDF_OR_FOLDER", help="PDF files or folders (searched "
                                             "recursively)"), REQUIRED, "run"),
    "output": Opt(Path, _option("--output", "-o", metavar="FOLDER", help="output folder"), Path("output"), "run"),
    "engine": Opt(Optional[str], _option(metavar="ENGINE", help=_ENGINE_HELP), group="run"),
    "model": Opt(Optional[str], _option(metavar="MODEL", help="model: Hugging Face id or local folder (server: its "
                                        "name)")),
    "task": Opt(Optional[list[str]], _option(
        "--task", metavar="TASK", help="a task to run: a name (see `docpipe tasks`) or a task file (.toml); repeat "
        "for several (default: summary and clauses, or the --config file's tasks)"), group="run"),
    "tasks": Opt(Optional[str], _option(metavar="TASKS", help="the same as --task, comma-separated: "
                                        "summary,clauses"), group="run"),
    "reply_room": Opt(Optional[list[str]], _option(
        "--reply-room", metavar="TASK=TOKENS", envvar="DOCPIPE_REPLY_ROOM",
        help="reply room (output tokens) for a task's reply, e.g. summary=800 (default: the task's own: summary "
        "2048, clauses 4096); repeat, or comma-separate, for several"), group="run"),
    "checklist": Opt(Optional[Path], _option(metavar="CSV_FILE", help="clause checklist CSV with columns "
                                             "name,description (default: CUAD's 41 categories)")),
    "password": Opt(Optional[str], _option(metavar="PASSWORD", envvar="DOCPIPE_PASSWORD", show_envvar=True,
                                           help="password for encrypted PDFs (better: the env variable, which "
                                           "stays out of the process list)")),
    "max_context": Opt(int, _option(metavar="TOKENS", help="largest context a prompt may use; a longer document "
                                    "is read in windows"), 131_072),
    "window_overlap": Opt(float, _option(metavar="SHARE", help="share of a window (0-0.5) the next window "
                                         "repeats"), 0.10),
    "tokenizer": Opt(Optional[str], _option(metavar="FOLDER", help="local tokenizer folder (default: the model's, "
                                            "else the bundled Qwen3 tokenizer)")),
    "summary_points": Opt(int, _option(metavar="COUNT", help="summary points per document"), 8),
    "thinking": Opt(bool, _option(help=_THINKING_HELP), False),
    "force": Opt(bool, _option("--force", help="redo every document, even unchanged ones"), False, "run"),
    "retry_failed": Opt(bool, _option("--retry-failed", help="also redo documents that failed before (default: "
                                      "only new or changed ones)"), False, "run"),
    "reconfigure": Opt(bool, _option("--reconfigure", help="use an output folder made with other settings (their "
                                     "results are redone); else such a run exits 2"), False),
    "log_format": Opt(str, _option("--log-format", metavar="FORMAT", help="text, or json (one JSON object per log "
                                   "line)"), "text", "run"),
    "max_pages": Opt(int, _option(metavar="PAGES", envvar="DOCPIPE_MAX_PAGES", help="fail a PDF with more pages"),
                     defaults.MAX_PAGES),
    "max_page_chars": Opt(int, _option(metavar="CHARACTERS", envvar="DOCPIPE_MAX_PAGE_CHARS",
                                       help="fail a PDF with a page of more characters of text"),
                          defaults.MAX_PAGE_CHARS),
    "max_decompressed_mb": Opt(int, _option(metavar="MEGABYTES", envvar="DOCPIPE_MAX_DECOMPRESSED_MB",
                                            help="how far one PDF stream may expand (pypdf's limit)"),
                               defaults.MAX_DECOMPRESSED_MB),
    "max_document_mb": Opt(int, _option(metavar="MEGABYTES", envvar="DOCPIPE_MAX_DOCUMENT_MB",
                                        help="how far all streams of one PDF may expand together; also bounds the "
                                        "reader processes' address space"), defaults.MAX_DOCUMENT_MB),
    "ingest_timeout": Opt(float, _option(metavar="SECONDS", envvar="DOCPIPE_INGEST_TIMEOUT",
                                         help="time reading one PDF may take; 0 = no limit"), defaults.INGEST_TIMEOUT),
    "follow_symlinks": Opt(bool, _option(help="follow symlinks found in input folders"), False),
    "jobs": Opt(Optional[int], _option("--jobs", "-j", metavar="PROCESSES", min=1, envvar="DOCPIPE_JOBS",
                                       show_envvar=True, help="processes reading and planning PDFs (default: the "
                                       "cores)")),
    "pdf_backend": Opt(str, _option(metavar="BACKEND", help="what extracts PDF text: pypdf, or pypdfium2 (several "
                                    f"times faster; needs {install_hint('pdfium')})"), "pypdf"),
    "ocr": Opt(Optional[str], _option(metavar="MODE", help="auto: OCR pages without a usable text layer (the "
                                      "default; needs the ocr extra: " + install_hint("ocr") + "), never, or "
                                      "always (every page)")),
    "ocr_images": Opt(bool, _option(help="write each OCR'd page's image beside its result, for the review report"),
                      False),
    "ocr_max_pixels": Opt(Optional[int], _option(metavar="PIXELS", help="per-page limit on the image OCR reads "
                                                 "(default 25,000,000); a larger page is rendered coarser")),
    "ocr_page_timeout": Opt(Optional[float], _option(metavar="SECONDS", help="CPU seconds the OCR of one page may "
                                                     "take (default 60; 0 = none); a page over it fails alone and "
                                                     "its document is partial")),
    "ocr_engine": Opt(Optional[str], _option(metavar="ENGINE", help="rapidocr (the default, the ocr extra) or "
                                             "tesseract (Debian's `tesseract` on PATH)")),
    "data_parallel": Opt(Optional[int], _option(min=1, metavar="WORKERS", help="engine workers on this host, one "
                                                "per GPU (or tensor-parallel group)"), group="run"),
    "ray": Opt(Optional[str], _option(metavar="ADDRESS", help="run on a Ray cluster: its address, or auto or local "
                                      f"({install_hint('ray')})"), group="run"),
    # server engine settings: each also a DOCPIPE_<NAME> env variable (`ServerSettings`)
    "base_url": Opt(Optional[str], _option(metavar="URL", help="server engine: the model server, e.g. "
                                           "http://127.0.0.1:8000/v1; implies --engine server (env "
                                           "DOCPIPE_BASE_URL)"), group="server"),
    "server_kind": Opt(Optional[str], _option(metavar="KIND", help="server engine: openai, vllm (also SGLang) or "
                                              "ollama (env DOCPIPE_SERVER_KIND; default openai)"), group="server"),
    "concurrency": Opt(Optional[int], _option(metavar="REQUESTS", help="server engine: requests in flight (env "
                                              "DOCPIPE_CONCURRENCY; default 8)"), group="server"),
    "request_timeout": Opt(Optional[float], _option(metavar="SECONDS", help="server engine: time one request may "
                                                    "take (env DOCPIPE_REQUEST_TIMEOUT; default 600)"),
                           group="server"),
    "max_retries": Opt(Optional[int], _option(metavar="COUNT", help="server engine: re-sends on 429/502/503/504 or "
                                              "a connection error (env DOCPIPE_MAX_RETRIES; default 4)"),
                       group="server"),
    "api_key_env": Opt(Optional[str], _option(metavar="VARIABLE", help="server engine: the environment variable "
                                              "holding the API key (default DOCPIPE_API_KEY, else OPENAI_API_KEY)"),
                       group="server"),
    "save_reasoning": Opt(bool, _option(help="keep thinking-mode reasoning in result.json"), False),
    "batch_documents": Opt(Optional[int], _option(metavar="DOCUMENTS", help="documents in flight at once, each "
                                                  "written as soon as it is done (vllm default 256, to keep the "
                                                  "batch full)"), group="run"),
    "verbose": Opt(bool, _option("--verbose", "-v", help="log each document as it finishes, and what the engine "
                                 "does (INFO level; default: warnings and errors only)"), False, "run"),
    # vLLM engine settings: each also a DOCPIPE_<NAME> env variable or a key of the --config file
    "config_file": Opt(Optional[Path], _option("--config", metavar="FILE", help="vllm engine: settings file, TOML "
                                               "or JSON (env < file < these flags)"), group="run"),
    "dtype": Opt(Optional[str], _option(metavar="DTYPE", help="vllm engine: weight type, auto, bfloat16 or float16 "
                                        "(env DOCPIPE_DTYPE)"), group="engine"),
    "quantization": Opt(Optional[str], _option(metavar="METHOD", help="vllm engine: quantization method, e.g. fp8 "
                                               "(env DOCPIPE_QUANTIZATION)"), group="engine"),
    "kv_cache_dtype": Opt(Optional[str], _option(metavar="DTYPE", help="vllm engine: KV cache type, auto or fp8 "
                                                 "(env DOCPIPE_KV_CACHE_DTYPE)"), group="engine"),
    "tensor_parallel_size": Opt(Optional[int], _option(metavar="GPUS", help="vllm engine: GPUs one engine spans "
                                                       "(tensor parallel; env DOCPIPE_TENSOR_PARALLEL_SIZE)"),
                                group="engine"),
    "gpu_memory_utilization": Opt(Optional[float], _option(metavar="FRACTION", help="vllm engine: share of GPU "
                                                           "memory it may take, 0-1 (env "
                                                           "DOCPIPE_GPU_MEMORY_UTILIZATION)"), group="engine"),
    "max_num_seqs": Opt(Optional[int], _option(metavar="SEQUENCES", help="vllm engine: sequences decoded at once "
                                               "(env DOCPIPE_MAX_NUM_SEQS)"), group="engine"),
    "max_num_batched_tokens": Opt(Optional[int], _option(metavar="TOKENS", help="vllm engine: tokens one engine "
                                                         "step takes, prefill chunks included (env "
                                                         "DOCPIPE_MAX_NUM_BATCHED_TOKENS)"), group="engine"),
    "enforce_eager": Opt(Optional[bool], _option("--enforce-eager/--no-enforce-eager", help="vllm engine: run "
                                                 "without CUDA graphs (starts faster, decodes slower; for "
                                                 "debugging; env DOCPIPE_ENFORCE_EAGER)"), group="engine"),
    "seed": Opt(Optional[int], _option(metavar="NUMBER", help="vllm engine: sampling seed (env DOCPIPE_SEED)"),
                group="engine"),
    "load_format": Opt(Optional[str], _option(metavar="FORMAT", help='vllm engine: weight loading; "dummy" = '
                                              "random weights, for tests (env DOCPIPE_LOAD_FORMAT)"), group="engine"),
}
JSON = Opt(bool, _option("--json", help="print one JSON object on stdout"), False)  # plan, status

RUN: dict[str, Opt] = dict(OPTIONS)
PLAN: dict[str, Opt] = {"inputs": OPTIONS["inputs"], "as_json": JSON} | {name: OPTIONS[name] for name in (
    "model", "task", "tasks", "reply_room", "checklist", "password", "max_context", "window_overlap", "tokenizer",
    "max_pages", "max_page_chars", "max_decompressed_mb", "max_document_mb", "ingest_timeout", "follow_symlinks",
    "jobs", "pdf_backend", "ocr")}
EVAL: dict[str, Opt] = {
    "data": Opt(Path, typer.Argument(metavar="CUAD_FOLDER", help="a folder in CUAD's layout: pdf/ and "
                                     "master_clauses.csv"), REQUIRED),
    "output": Opt(Path, _option("--output", "-o", metavar="FOLDER", help="output folder (results, eval.json, "
                                "eval.md)"), REQUIRED),
    "engine": OPTIONS["engine"], "model": OPTIONS["model"], "checklist": OPTIONS["checklist"],
    "split": Opt(str, _option(metavar="SPLIT", help="score all contracts, or one fixed half: tune (for tuning) or "
                              "held-out (for reporting); see docs/evaluation.md"), "all"),
    "max_context": OPTIONS["max_context"], "tokenizer": OPTIONS["tokenizer"], "thinking": OPTIONS["thinking"],
    "rescore": Opt(bool, _option(help="score the results already in --output; run no engine"), False),
    "jobs": OPTIONS["jobs"],
} | {name: opt for name, opt in OPTIONS.items() if opt.group == "server"} | {"verbose": OPTIONS["verbose"]}


def grouped(group: Group) -> tuple[str, ...]:
    """The names of `docpipe run`'s options of one group, in table order."""
    return tuple(name for name, opt in RUN.items() if opt.group == group)


def takes(options: dict[str, Opt]) -> Callable[[F], F]:
    """Declare a command's options: typer reads the signature this sets (`options`, in order), and calls the
    command with every value by name."""

    def declare(command: F) -> F:
        parameters = [opt.parameter(name) for name, opt in options.items()]
        command.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
        return command

    return declare
