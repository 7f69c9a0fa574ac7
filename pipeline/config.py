"""Run configuration. Imports no stage.

Two layers: `EngineSettings` are machine settings, read from `DOCPIPE_*` environment variables (and
overridable by flags); `RunConfig` is one run's configuration. Both are frozen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

TASKS = ("summary", "clauses")
NATIVE_CONTEXT = 32_768  # Qwen3 dense models' native context
YARN_CONTEXT = 131_072  # with static YaRN factor 4.0 over 32,768
# Limits on one untrusted PDF (each breach fails that document with a clear error).
MAX_PAGES = 5_000
MAX_PAGE_CHARS = 200_000  # ~20× a dense page of text; such a page alone fills a 32k context
MAX_DECOMPRESSED_MB = 75  # pypdf's own default per stream; never disabled, only moved
# What all of one PDF's streams may decode to (pypdf keeps them in memory while it reads the file): ~3
# streams at the per-stream limit; the 60 CUAD dev contracts decode to 0.14 MB (median) and 2.0 MB (largest).
MAX_DOCUMENT_MB = 256
INGEST_TIMEOUT = 600.0  # seconds; pypdf reads ~20 pages/s, so 5,000 pages need ~250 s
PdfBackend = Literal["pypdf", "pypdfium2"]  # pypdfium2: the optional extra docpipe[pdfium]
OcrMode = Literal["auto", "never", "always"]  # OCR needs the optional ocr extra (rapidocr, onnxruntime)
OcrEngineName = Literal["rapidocr", "tesseract"]  # tesseract: Debian's, when on PATH; never needed by default
OCR_DPI = 300  # render resolution for OCR
OCR_MAX_PIXELS = 25_000_000  # per page: a larger page is rendered at a lower resolution (memory and time bound)
OCR_MIN_CONFIDENCE = 0.80  # an OCR page whose mean confidence is lower is flagged
# CPU seconds one page's OCR may take: ~8 s is usual for a letter page at 300 dpi on one core (docs/bench-ocr.md);
# a page far beyond that (a poster, a page of speckle read as thousands of boxes) fails alone, not its document.
OCR_PAGE_TIMEOUT = 60.0


class ServerSettings(BaseSettings):
    """How to reach a model server (`--engine server`); env `DOCPIPE_<NAME>` sets each. The API key itself
    is never part of any config: it is read from the environment variable named by `api_key_env`."""

    model_config = SettingsConfigDict(env_prefix="DOCPIPE_", frozen=True, extra="ignore")

    base_url: str | None = Field(default=None, description="e.g. http://127.0.0.1:8000/v1 (Ollama: its root)")
    server_kind: Literal["openai", "vllm", "ollama"] = "openai"
    concurrency: int = Field(default=8, ge=1, description="requests in flight at once")
    request_timeout: float = Field(default=600.0, gt=0, description="seconds one request may take")
    max_retries: int = Field(default=4, ge=0, description="re-sends after 429, 502-504 or a connection error")
    backoff: float = Field(default=1.0, ge=0, description="first retry delay (s); doubles, with jitter")
    backoff_max: float = Field(default=60.0, ge=0, description="cap on one retry delay (s)")
    api_key_env: str | None = Field(default=None, description="env variable holding the API key (default: "
                                                              "DOCPIPE_API_KEY, else OPENAI_API_KEY)")


class EngineSettings(BaseSettings):
    """Engine knobs for the machine the run is on; env `DOCPIPE_<NAME>` sets each (a `--config` file and
    flags override them, see `pipeline.settings`)."""

    model_config = SettingsConfigDict(env_prefix="DOCPIPE_", frozen=True, extra="ignore")

    dtype: str = "auto"
    quantization: str | None = Field(default=None, description="e.g. fp8")
    kv_cache_dtype: str = "auto"
    tensor_parallel_size: int = Field(default=1, ge=1)
    data_parallel_size: int = Field(default=1, ge=1, description="engine workers, one per tensor-parallel group")
    gpu_memory_utilization: float = Field(default=0.90, gt=0, le=1)
    max_num_seqs: int | None = Field(default=None, ge=1, description="None: vLLM's default (256)")
    max_num_batched_tokens: int | None = Field(default=None, ge=1, description="None: vLLM's default for the GPU")
    enforce_eager: bool = False
    seed: int = 0
    load_format: str = Field(default="auto", description='"dummy": random weights (benchmarks)')
    reasoning_parser: str | None = Field(default=None, description='default: "qwen3" in thinking mode')
    structured_backend: str = Field(default="xgrammar", description="must be xgrammar or guidance")
    retries: int = Field(default=1, ge=0, description="re-asks of a truncated or invalid reply, with 2x room")


class RunConfig(BaseModel):
    """Everything one run depends on. Paths are resolved by the caller."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    engine: Literal["extractive", "keyword", "vllm", "server"] = "extractive"
    model: str | None = None
    tasks: tuple[str, ...] = Field(default=TASKS, description="task names (bundled: `docpipe tasks`) or paths of "
                                   "task files (.toml); checked by `tasks.registry.load_tasks` before any work")
    checklist: Path | None = Field(default=None, description="CSV with name,description; None = CUAD's 41")
    password: SecretStr | None = Field(default=None, description="for encrypted PDFs; never serialised in clear")
    tokenizer: str | None = Field(default=None, description="local tokenizer folder; default: the model's")
    native_context: int = NATIVE_CONTEXT
    max_context: int = YARN_CONTEXT
    summary_reserve: int = 2048
    clauses_reserve: int = 4096
    reply_room: dict[str, int] = Field(
        default_factory=dict, description="reply room (output tokens) by task name, over the task file's "
        "`reserve` (for summary and clauses: over summary_reserve / clauses_reserve); --reply-room TASK=TOKENS")
    summary_points: int = 8
    max_window_tokens: int | None = Field(default=None, description="cap on a window's prompt+reserve")
    window_overlap: float = Field(default=0.10, description="share of a window its successor repeats (0–0.5)")
    thinking: bool = False
    thinking_reserve: int = Field(default=4096, description="extra output tokens for reasoning (thinking mode)")
    save_reasoning: bool = Field(default=False, description="keep thinking-mode reasoning in result.json")
    batch_documents: int = Field(default=32, description="documents in flight at once in the streaming core")
    jobs: int | None = Field(default=None, ge=1, description="processes reading and planning PDFs; None = the cores")
    redo: Literal["changed", "failed", "all"] = Field(
        default="changed", description="changed: only new/changed documents and retryable failures; "
        "failed: also every failed one; all: everything (--force). Not part of the config key")
    reconfigure: bool = Field(default=False, description="let this run use an output folder made with other "
                              "settings (its results are redone); without it such a run stops with exit code 2. "
                              "Not part of the result key")
    max_pages: int = Field(default=MAX_PAGES, ge=1, description="pages one PDF may have")
    max_page_chars: int = Field(default=MAX_PAGE_CHARS, ge=1, description="characters of text one page may have")
    max_decompressed_mb: int = Field(default=MAX_DECOMPRESSED_MB, ge=1,
                                     description="MB one PDF stream may expand to (pypdf backend only)")
    max_document_mb: int = Field(default=MAX_DOCUMENT_MB, ge=1,
                                 description="MB all of one PDF's streams may decode to (pypdf backend); also "
                                 "sets the reader processes' address-space limit (both backends)")
    ingest_timeout: float = Field(default=INGEST_TIMEOUT, ge=0,
                                  description="seconds reading one PDF may take (in a worker process); 0 = no limit")
    follow_symlinks: bool = Field(default=False, description="follow symlinks found in input folders")
    pdf_backend: PdfBackend = Field(default="pypdf", description="what extracts the text: pypdf, or pypdfium2 "
                                    "(faster; needs pypdfium2); text can differ, so it is in the key")
    ocr: OcrMode = Field(default="auto", description="auto: OCR pages without a usable text layer (when the OCR "
                         "extra is installed; else say which pages need it); never; always: every page")
    ocr_engine: OcrEngineName = Field(default="rapidocr", description="rapidocr (the ocr extra), or tesseract "
                                      "(Debian's `tesseract` on PATH, English)")
    ocr_dpi: int = Field(default=OCR_DPI, ge=50, le=600, description="resolution pages are rendered at for OCR")
    ocr_max_pixels: int = Field(default=OCR_MAX_PIXELS, ge=1_000_000,
                                description="per-page limit on the rendered image; a larger page gets a lower dpi")
    ocr_min_confidence: float = Field(default=OCR_MIN_CONFIDENCE, ge=0, le=1,
                                      description="OCR pages below this mean confidence are flagged")
    ocr_page_timeout: float = Field(default=OCR_PAGE_TIMEOUT, ge=0,
                                    description="CPU seconds the OCR of one page may take (in a reader process); "
                                    "a page over it fails alone (its document is partial); 0 = no limit")
    ocr_images: bool = Field(default=False, description="write each OCR page's image beside its result "
                             "(OUT/<doc-id>/pages/N.png), shown in the review report")
    engine_settings: EngineSettings = Field(default_factory=EngineSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)

    @model_validator(mode="after")
    def _check(self) -> RunConfig:
        if not self.tasks or len(set(self.tasks)) != len(self.tasks):
            raise ValueError(f"tasks must be a non-empty list without repeats, got {list(self.tasks)}")
        if self.max_context < 1024:
            raise ValueError("max_context must be at least 1024 tokens")
        if not 0 <= self.window_overlap <= 0.5:
            raise ValueError("window_overlap must be between 0 and 0.5 (a share of the window)")
        small = {task: room for task, room in self.reply_room.items() if room < 16}
        if small:
            raise ValueError(f"reply room must be at least 16 tokens, got {small}")
        return self

    def reserve(self, task: str, default: int = 2048) -> int:
        """Output tokens reserved for one task's reply: `default` (the task file's `reserve`), except for
        the built-ins, whose reserves are settings of their own (the summary reduce's reply is a summary)."""
        builtin = {"summary": self.summary_reserve, "reduce_summary": self.summary_reserve,
                   "clauses": self.clauses_reserve}
        room = self.reply_room.get("summary" if task == "reduce_summary" else task)
        base = room if room is not None else builtin.get(task, default)
        return base + (self.thinking_reserve if self.thinking else 0)
