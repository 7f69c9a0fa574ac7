"""The frozen data model every stage passes along. Imports no stage.

Pages are data: `page_number` is the 1-based physical page, `page_label` the printed label; a page that
failed or had no text keeps its slot, so numbering never shifts. Every artifact says where it came from.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, SerializerFunctionWrapHandler, model_serializer

from pipeline.secrets import Redacted

SCHEMA_VERSION = "1.3"  # 1.1: optional Clause.confidence; 1.2: optional SummaryPoint.claim_check,
# DocResult.result_key, RunReport.error; 1.3: DocResult.extractions (tasks from task files)

PageStatus = Literal["ok", "empty", "failed"]
PageSource = Literal["text", "ocr"]  # the PDF's text layer, or text recognised from the page image
RouteKind = Literal["whole", "whole_yarn", "windows"]
CitationStatus = Literal["verified", "relocated", "unverified"]
MatchKind = Literal["exact", "normalized", "fuzzy", "none"]
ClaimStatus = Literal["supported", "unsupported"]
DocStatus = Literal["ok", "partial", "failed"]
Role = Literal["system", "user", "assistant"]


class Frozen(BaseModel):
    """Base: immutable, and unknown fields are an error (a typo never passes silently)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Page(Frozen):
    """One physical page's extracted text."""

    page_number: int = Field(ge=1, description="1-based physical page number")
    page_label: str = Field(description="printed page label (pypdf page_labels); the number if none")
    text: str = ""
    status: PageStatus = "ok"
    error: str | None = None
    source: PageSource = Field(default="text", description='"ocr": text recognised from the page image')
    ocr_confidence: float | None = Field(default=None, description="OCR pages: mean recognition confidence "
                                         "(0-1, weighted by characters)")
    low_confidence: bool = Field(default=False, description="OCR page under the confidence threshold: flagged")
    image: str | None = Field(default=None, description="OCR pages: the page image beside result.json "
                              "(e.g. pages/3.png), when images were asked for")
    # The image itself travels from the reader process to the result writer, never into JSON.
    image_png: bytes | None = Field(default=None, exclude=True, repr=False)


class Source(Frozen):
    """The file a document came from."""

    path: str
    sha256: str
    page_count: int
    size_bytes: int


class Document(Frozen):
    """An ingested PDF. `doc_id` is derived from the file's sha256, so it names content, not a path."""

    doc_id: str
    source: Source
    pages: tuple[Page, ...]


class ChecklistItem(Frozen):
    """One clause category to look for."""

    name: str
    description: str = ""


class PagePart(Frozen):
    """A slice of one page's text: a page alone too long for a window is cut (paragraphs, then sentences)."""

    page_number: int
    part: int = Field(ge=1, description="1-based index of this part among the page's parts")
    parts: int = Field(ge=2, description="how many parts the page was cut into")
    char_start: int = Field(description="offset of the part in the page text")
    char_end: int


class Window(Frozen):
    """A page-aligned slice of a document sent as one prompt (route `windows`)."""

    index: int
    page_start: int = Field(description="first physical page (1-based, inclusive)")
    page_end: int = Field(description="last physical page (inclusive)")
    prompt_tokens: int = Field(description="exact tokens of the window's largest task prompt")
    parts: tuple[PagePart, ...] = Field(default=(), description="pages of the window it holds only part of")


class Route(Frozen):
    """How a document is sent to the engine, with the token counts that decided it."""

    kind: RouteKind
    prompt_tokens: int = Field(description="largest rendered prompt among the document's requests")
    output_reserve: int = Field(description="tokens reserved for the largest reply")
    total_tokens: int = Field(description="largest prompt + its reserve when sent whole (windows route, far over "
                              "the context: a lower bound from per-page counts)")
    context_limit: int = Field(description="the context size this route must fit")
    task_tokens: dict[str, int] = Field(default_factory=dict, description="prompt tokens per task when sent "
                                        "whole (empty when the document was too long to count whole)")
    windows: tuple[Window, ...] = ()
    reduce_depth: int = Field(default=0, description="rounds of summary reduce (windows route)")


class Message(Frozen):
    role: Role
    content: str


class PointRef(Frozen):
    """An item (a summary point, or a reduce task's item) offered to the reduce step under an id; the model
    refers to it by that id only."""

    id: str
    text: str
    quote: str
    page_number: int | None


class Request(Frozen):
    """One prompt for an engine. `pages`, `checklist` and `items` are there for model-free engines."""

    request_id: str
    doc_id: str
    task: str
    route: RouteKind
    window: int | None = None
    messages: tuple[Message, ...]
    json_schema: dict
    max_tokens: int
    prompt_tokens: int = Field(description="exact tokens of the rendered chat prompt, in `thinking` mode or not")
    thinking: bool = False
    pages: tuple[Page, ...] = ()
    checklist: tuple[ChecklistItem, ...] = ()
    items: tuple[PointRef, ...] = Field(default=(), description="the points a reduce request merges")


class Completion(Frozen):
    """An engine's answer to one request; `error` set means the request failed."""

    request_id: str
    text: Redacted = ""  # Redacted: a server or proxy may echo what it was sent (the API key) back
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    reasoning: Redacted | None = None
    error: Redacted | None = None
    seconds: float | None = None
    attempts: int = 1


class Citation(Frozen):
    """Where a quote sits in the source, as computed by `cite` — never as claimed by the model alone."""

    quote: str
    page_number: int | None = Field(description="page where the quote was found (or claimed, if unverified)")
    page_label: str | None
    claimed_page_number: int | None
    status: CitationStatus
    match: MatchKind
    score: float = Field(description="similarity of the match, 0–100")
    char_start: int | None = Field(default=None, description="offset of the match in the page text")
    char_end: int | None = None


class ClaimCheck(Frozen):
    """Whether the numbers and dates a claim states (in the model's own words) appear in its quote or on
    its cited page, as computed by `cite.facts`. `unsupported` keeps the claim and lists what is missing."""

    status: ClaimStatus
    numbers: tuple[str, ...] = Field(default=(), description="the claim's numbers and dates found in neither, "
                                     "as the claim writes them")
    checked: int = Field(default=0, description="how many numbers and dates the claim states")


class SummaryPoint(Frozen):
    text: str
    citation: Citation
    claim_check: ClaimCheck | None = Field(default=None, description="the numbers and dates of `text` checked "
                                           "against the quote and the cited page (None: not checked)")


class Clause(Frozen):
    category: str
    citation: Citation
    conflict: bool = False
    confidence: float | None = Field(default=None, description="the engine's confidence, if it gives one")


class TaskItem(Frozen):
    """One item of a task defined by its file (`prompts/tasks/*.toml`), with computed citations.

    items = "many": `values` are the item's typed fields and `citation` locates its quote. items = "one":
    every field carries its own quote, located in `citations` (a field the document does not state has
    value None and no citation)."""

    values: dict[str, JsonValue] = Field(description="field → typed value (dates as YYYY-MM-DD), quote and page "
                                         "fields left out")
    citation: Citation | None = Field(default=None, description='items = "many": where the item\'s quote is')
    citations: dict[str, Citation] = Field(default_factory=dict,
                                           description='items = "one": where each field\'s quote is')
    conflicts: tuple[str, ...] = Field(default=(), description="fields to which windows gave different values")
    unsupported: tuple[str, ...] = Field(default=(), description="number or date fields whose value neither its "
                                         "quote nor the quote's page states (cite.facts.check_claim); for a task "
                                         "with merge = 'reduce' also its text field when a number or date it "
                                         "states is in neither")


class DocError(Frozen):
    """A failure recorded for one document: which stage, what kind, why."""

    stage: str
    kind: str
    message: Redacted  # every failure's text passes here: server error bodies, exception messages


class EngineInfo(Frozen):
    name: str
    model: str | None = None


class DocResult(Frozen):
    """The `result.json` contract (see SCHEMA_VERSION)."""

    schema_version: str = SCHEMA_VERSION
    doc_id: str
    status: DocStatus
    source: Source | None
    route: Route | None
    engine: EngineInfo
    summary: tuple[SummaryPoint, ...] = ()
    clauses: tuple[Clause, ...] = ()
    absent: tuple[str, ...] = ()
    extractions: dict[str, tuple[TaskItem, ...]] = Field(
        default_factory=dict, description="task name → its items, for tasks from task files (not the built-in "
        "summary and clauses); left out of result.json when no such task ran")
    pages_flagged: tuple[Page, ...] = Field(default=(), description="empty or failed pages (text omitted)")
    errors: tuple[DocError, ...] = ()
    usage: dict[str, int] = Field(
        default_factory=dict,
        description="prompt_tokens (as the engine counted them), output_tokens, requests, attempts, "
                    "finish_<reason> counts, failed",
    )
    seconds: dict[str, float] = Field(default_factory=dict)
    reasoning: dict[str, str] = Field(default_factory=dict, description="request id → reasoning (--save-reasoning)")
    result_key: str | None = Field(default=None, description="the key of everything that shaped this result "
                                   "(pipeline.store.key); the run store and eval file results under it")

    def all_citations(self) -> list[Citation]:
        """Every citation of the result: summary points, clauses, and the items of tasks from task files."""
        cited = [p.citation for p in self.summary] + [c.citation for c in self.clauses]
        for items in self.extractions.values():
            for item in items:
                cited += ([item.citation] if item.citation else []) + list(item.citations.values())
        return cited

    @model_serializer(mode="wrap")
    def _without_empty_extractions(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        # A run of the built-ins only writes the files it wrote before task files existed.
        data = handler(self)
        if not data.get("extractions"):
            data.pop("extractions", None)
        return data  # type: ignore[no-any-return]


class DocReport(Frozen):
    """One document's line in `run_report.json`."""

    doc_id: str
    path: str
    status: DocStatus
    route: RouteKind | None
    prompt_tokens: int | None
    output_tokens: int | None
    windows: int = 0
    window_spans: tuple[Window, ...] = Field(default=(), description="the windows' page spans and tokens")
    reduce_depth: int = 0
    seconds: dict[str, float] = Field(default_factory=dict)
    citations: dict[str, int] = Field(default_factory=dict)
    claims: dict[str, int] = Field(default_factory=dict, description="claim checks: checked, unsupported")
    usage: dict[str, int] = Field(default_factory=dict, description="the result's usage")
    errors: tuple[DocError, ...] = ()
    cached: bool = Field(default=False, description="result reused from an earlier run (file and config unchanged)")
    duplicate_of: str | None = Field(default=None, description="path of an earlier file with the same content")


class RunReport(Frozen):
    """The `run_report.json` contract."""

    schema_version: str = SCHEMA_VERSION
    started_at: str
    finished_at: str
    engine: EngineInfo
    tasks: tuple[str, ...]
    prompt_hashes: dict[str, str]
    documents: tuple[DocReport, ...]
    totals: dict[str, float]
    stopped_by: str | None = Field(default=None, description="signal that stopped the run early (SIGINT, SIGTERM)")
    error: str | None = Field(default=None, description="what ended the run early (disk full, lock file deleted…)")


class Plan(Frozen):
    """A document with its route and the requests that carry it to an engine."""

    document: Document
    route: Route
    requests: tuple[Request, ...]
