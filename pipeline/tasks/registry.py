"""Tasks as data: one TOML file per task (`prompts/tasks/<name>.toml`), loaded and checked here.

Contract: `load_task(ref)` takes a task name (a file of the tasks folder) or a path to a `.toml` file and
returns its `TaskDef`; `load_tasks(refs)` does so for a run's tasks, names unique. A file that cannot be
read or breaks the format raises `ConfigError` naming the file, the key and what is allowed, before any
document is touched (exit 2). `available_tasks()` lists the bundled tasks: the built-ins (`BUILTIN`),
which every engine runs, then the examples.

A task file holds:
- `name` (lower-case letters, digits, `_`), `description` (one line), `instructions`: a jinja2 template
  rendered after the shared document prefix (variables: `task`, `page_count`, `window`, `n_points`,
  `checklist`; `{% include "fields.j2" %}` lists the fields with their descriptions);
- `items`: `"many"` (a list of items) or `"one"` (one item per document whose every field carries its
  own quote and page), and `merge`, how the items of a document's windows become one list: `"distinct"`
  (many: keep distinct items, drop duplicates by quote), `"one"` (one: keep one value per field, flag
  fields whose windows disagree) or `"reduce"` (many, free text: the id-based reduce by the engine,
  `merge.reduce`, which rewrites `text_field` and keeps the citation of an item it names; needs
  `text_field`, a string field besides the quote);
- `[[fields]]`: `name`, `type` (`FIELD_TYPES`), `description`, `values` (enum), `values_from =
  "checklist"` (an enum of the clause checklist), `required` (many: false lets the model leave it out),
  `hidden` (never asked of the model; an engine may add it, e.g. a confidence);
- `quote_field` and `page_field`: which fields are the verbatim quote (string) and its page (integer);
- bounds for the JSON schema: `max_items`, `max_quote_chars`, `max_value_chars`, and per number field
  `minimum`/`maximum` (default ±10^12: a constrained decoder must be able to end every value); `reserve`:
  output tokens.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.config import RunConfig
from pipeline.errors import ConfigError
from pipeline.tasks.templates import prompts_dir

BUILTIN = ("summary", "clauses")
REDUCE_PREFIX = "reduce_"  # the reduce requests of task T carry the name "reduce_T": no task file may take one
FieldType = Literal["string", "integer", "number", "boolean", "date", "enum", "list"]
FIELD_TYPES: tuple[str, ...] = FieldType.__args__  # type: ignore[attr-defined]
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FieldDef(_Strict):
    """One field of a task's item."""

    name: str = Field(pattern=NAME_PATTERN)
    type: FieldType
    description: str = ""
    values: tuple[str, ...] = Field(default=(), description="enum: the allowed values")
    values_from: Literal["checklist"] | None = Field(default=None, description="enum: the clause checklist's names")
    required: bool = True
    hidden: bool = False
    minimum: float | None = Field(default=None, description="integer, number: the least value (default -10^12)")
    maximum: float | None = Field(default=None, description="integer, number: the greatest value (default 10^12)")

    @model_validator(mode="after")
    def _enum(self) -> FieldDef:
        if self.type == "enum" and not (self.values or self.values_from):
            raise ValueError("an enum field needs 'values' (a list of strings) or values_from = \"checklist\"")
        if self.type != "enum" and (self.values or self.values_from):
            raise ValueError(f"'values' and 'values_from' belong to enum fields, not to type {self.type!r}")
        if self.type not in ("integer", "number") and (self.minimum is not None or self.maximum is not None):
            raise ValueError(f"'minimum' and 'maximum' belong to integer and number fields, not to type {self.type!r}")
        return self


class TaskDef(_Strict):
    """A task as its file defines it; see the module docstring."""

    name: str = Field(pattern=NAME_PATTERN)
    description: str
    instructions: str = Field(min_length=1)
    items: Literal["one", "many"] = "many"
    merge: Literal["distinct", "one", "reduce"] | None = Field(default=None, description="default: by items")
    reply_key: str = Field(default="items", pattern=NAME_PATTERN, description="many: the reply's list of items")
    fields: tuple[FieldDef, ...] = Field(min_length=1)
    quote_field: str = "quote"
    page_field: str = "page_number"
    text_field: str | None = Field(default=None, description="reduce: the item's free text")
    max_items: int = Field(default=30, ge=1, le=500)
    max_quote_chars: int = Field(default=1200, ge=20, le=20_000)
    max_value_chars: int = Field(default=300, ge=1, le=20_000)
    reserve: int = Field(default=2048, ge=16, description="output tokens reserved for the reply")
    source: str = Field(default="", description="the file it was loaded from (not part of the definition)")

    @model_validator(mode="after")
    def _consistent(self) -> TaskDef:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"fields: duplicate field names in {names}")
        kinds = {f.name: f.type for f in self.fields}
        for key, wanted in (("quote_field", "string"), ("page_field", "integer")):
            value = getattr(self, key)
            if kinds.get(value) != wanted:
                raise ValueError(f"{key}: {value!r} must name a field of type {wanted} (fields: {', '.join(names)})")
        merge = self.merge or ("one" if self.items == "one" else "distinct")
        allowed = ("one",) if self.items == "one" else ("distinct", "reduce")
        if merge not in allowed:
            raise ValueError(f"merge: {merge!r} does not go with items = {self.items!r}; allowed: {', '.join(allowed)}")
        if self.text_field is not None and kinds.get(self.text_field) != "string":
            raise ValueError(f"text_field: {self.text_field!r} must name a field of type string")
        if merge == "reduce" and self.text_field in (None, self.quote_field):
            raise ValueError("merge: 'reduce' merges free text: text_field must name a string field besides the "
                             f"quote (fields: {', '.join(names)}); or merge = 'distinct'")
        object.__setattr__(self, "merge", merge)  # frozen: settle the default once, here
        return self

    @property
    def value_fields(self) -> tuple[FieldDef, ...]:
        """The fields besides the quote and the page, in file order."""
        return tuple(f for f in self.fields if f.name not in (self.quote_field, self.page_field))

    @property
    def builtin(self) -> bool:
        return self.name in BUILTIN

    def digest(self) -> str:
        """sha256 of the definition (its source path left out): part of the run store's key."""
        text = self.model_dump_json(exclude={"source"})
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def reduce_task(name: str) -> str:
    """The task name the reduce requests of task `name` carry (the summary's: "reduce_summary")."""
    return REDUCE_PREFIX + name


def reduced_task(request_task: str) -> str | None:
    """The task whose items a request of `request_task` reduces; None when it is no reduce request."""
    return request_task.removeprefix(REDUCE_PREFIX) if request_task.startswith(REDUCE_PREFIX) else None


def uses_checklist(tasks: Iterable[TaskDef]) -> bool:
    """Whether any of `tasks` has a field whose values are the clause checklist's names."""
    return any(f.values_from == "checklist" for task in tasks for f in task.fields)


def require_engine_runs(engine: str, supported: frozenset[str] | None, tasks: Sequence[TaskDef]) -> None:
    """ConfigError (exit 2) when an engine that runs only some tasks (`supported`; None: any) is given
    others, naming them: checked before any document is read."""
    refused = [task.name for task in tasks if supported is not None and task.name not in supported]
    if refused:
        raise ConfigError(f"the {engine} engine runs only the built-in tasks ({', '.join(sorted(supported or ()))}); "
                          f"it cannot run: {', '.join(refused)}. Tasks from task files need a model: --engine vllm "
                          f"--model M, or --base-url URL (server engine)")


def task_reserve(config: RunConfig, task: TaskDef) -> int:
    """Output tokens reserved for one reply of `task` (the built-ins' are run settings; thinking adds)."""
    return config.reserve(task.name, task.reserve)


def tasks_dir() -> Path:
    """The bundled task files: `tasks/` of the prompts folder (`$DOCPIPE_PROMPTS`, the wheel's, the repo's)."""
    return prompts_dir() / "tasks"


def load_task(ref: str | os.PathLike[str]) -> TaskDef:
    """A task by name (bundled) or by the path of its TOML file; see the module docstring."""
    text = os.fspath(ref)
    if text.endswith(".toml") or os.sep in text or "/" in text:
        return _load_file(Path(text).resolve())
    path = tasks_dir() / f"{text}.toml"
    if not path.is_file():
        known = ", ".join(name for name, _ in available_tasks())
        raise ConfigError(f"task {text!r}: no such task; bundled tasks: {known}; or give the path of a .toml file")
    return _load_file(path)


def load_tasks(refs: Iterable[str | os.PathLike[str]]) -> tuple[TaskDef, ...]:
    """A run's tasks, in order; two tasks with one name are an error."""
    tasks = tuple(load_task(ref) for ref in refs)
    if not tasks:
        raise ConfigError("tasks: at least one task is needed")
    seen: dict[str, str] = {}
    for task in tasks:
        if task.name in seen:
            raise ConfigError(f"tasks: two tasks are named {task.name!r} ({seen[task.name]} and {task.source})")
        seen[task.name] = task.source
    return tasks


_LOADED: dict[str, TaskDef] = {}  # name → the task this process loaded under it (engines see names only)


def task_named(name: str) -> TaskDef:
    """The task this process loaded under `name`, else the bundled task of that name."""
    return _LOADED.get(name) or load_task(name)


@functools.cache
def _cached(path: Path, mtime_ns: int, size: int) -> TaskDef:
    return parse_task(path.read_bytes().decode("utf-8"), path)


def _load_file(path: Path) -> TaskDef:
    try:
        stat = path.stat()
        task = _cached(path, stat.st_mtime_ns, stat.st_size)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"task file {path}: cannot read: {exc}") from exc
    _LOADED[task.name] = task
    return task


def parse_task(text: str, path: Path) -> TaskDef:
    """Parse and check one task file's text (`path` names it in errors and in `source`)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"task file {path}: not valid TOML: {exc}") from exc
    if "source" in data:
        raise ConfigError(f"task file {path}: key 'source': not allowed (it is set from the file's path)")
    try:
        task = TaskDef.model_validate({**data, "source": str(path)})
    except ValidationError as exc:
        raise ConfigError(f"task file {path}: {_explain(exc, data)}") from exc
    bundled = path.parent == tasks_dir().resolve() or path.parent == tasks_dir()
    if task.name in BUILTIN and not bundled:
        raise ConfigError(f"task file {path}: key 'name': {task.name!r} is taken by a built-in task; choose another")
    if reduced_task(task.name) is not None:
        raise ConfigError(f"task file {path}: key 'name': names starting with {REDUCE_PREFIX!r} are the reduce "
                          "requests'; choose another")
    if task.name in BUILTIN and task.merge != {"summary": "reduce", "clauses": "distinct"}[task.name]:
        raise ConfigError(f"task file {path}: key 'merge': the built-in {task.name} must keep its merge")
    return task


def _explain(exc: ValidationError, data: dict) -> str:
    """The first problem, as "key '<path>': <what is wrong>" with what is allowed."""
    error = exc.errors()[0]
    loc = error["loc"]
    key = "".join(_loc_text(part, loc[i - 1] if i else None, data) for i, part in enumerate(loc)).lstrip(".")
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        model = FieldDef if "fields" in loc else TaskDef
        message = f"unknown key; allowed keys: {', '.join(k for k in model.model_fields if k != 'source')}"
    elif error["type"] == "missing":
        message = "missing (required)"
    elif loc and loc[-1] == "name":
        message += " (lower-case letters, digits and '_', starting with a letter)"
    return f"key {key or '(top level)'!r}: {message}"


def _loc_text(part: object, before: object, data: dict) -> str:
    """One step of an error's location: `.key`, or `[3] (its name)` for the fourth of the fields."""
    if not isinstance(part, int):
        return f".{part}"
    fields = data.get("fields")
    entry = fields[part] if before == "fields" and isinstance(fields, list) and part < len(fields) else None
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"[{part}]" + (f" ({name})" if name else "")


def available_tasks() -> list[tuple[str, str]]:
    """(name, description) of every bundled task: the built-ins first, then the examples by name."""
    folder = tasks_dir()
    names = sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []
    ordered = [n for n in BUILTIN if n in names] + [n for n in names if n not in BUILTIN]
    listed = []
    for name in ordered:
        task = load_task(name)
        listed.append((task.name, task.description))
    return listed
