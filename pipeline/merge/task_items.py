"""Stage parse + cite + merge for tasks from task files: replies → TaskItems with computed citations.

Contract: `cite_items(task, items, index)` turns one reply's parsed items (one window, or the whole document;
a one-item task's reply is its one item) into
TaskItems whose quotes are located by `cite` (never dropped: an unlocated quote stays, `unverified`), and
whose number and date fields — and, for a task with merge = "reduce", the numbers and dates of its free text
(`text_field`) — are checked against their located quote and its page (`cite.facts.check_claim`; `unsupported`
lists those neither states; `check_items` does it again for items whose text the reduce rewrote).
`merge_items(task, per_window)` makes one document's items from its windows', by the task's merge:
- "distinct" (items = "many"): items in window order, a duplicate — the same quote, found twice (located
  quotes overlapping on one page, or one normalised quote containing the other) — kept once, with the
  better citation (verified, relocated, unverified; then the longer quote);
- "one" (items = "one"): one item; each field takes the first stated value with the best citation, and a
  field to which windows gave different values is listed in `conflicts`;
- "reduce" (items = "many", free text): every window's items, in window order, for the engine's reduce
  (`merge.reduce.Reduction`) to merge.
Citations are never changed, only chosen between.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from pipeline.cite.locate import PageIndex, normalize
from pipeline.cite.facts import check_claim
from pipeline.merge.clauses import same_quote
from pipeline.models import Citation, Page, TaskItem
from pipeline.tasks.registry import TaskDef

_RANK = {"verified": 0, "relocated": 1, "unverified": 2}


def cite_items(task: TaskDef, items: Sequence[BaseModel], index: PageIndex) -> list[TaskItem]:
    """The items of one reply, each quote located; see the module docstring."""
    if task.items == "one":
        data = items[0].model_dump() if items else {}
        values: dict[str, object] = {}
        citations: dict[str, Citation] = {}
        for field in task.value_fields:
            stated = data.get(field.name)
            values[field.name] = stated["value"] if stated else None
            if stated:
                citations[field.name] = index.locate(stated[task.quote_field], stated[task.page_field])
        return [_checked(task, TaskItem(values=values, citations=citations), index.pages)]  # type: ignore[arg-type]
    cited = []
    for row in (item.model_dump() for item in items):
        citation = index.locate(row[task.quote_field], row[task.page_field])
        values = {f.name: row.get(f.name) for f in task.value_fields if not (f.hidden and row.get(f.name) is None)}
        cited.append(_checked(task, TaskItem(values=values, citation=citation), index.pages))  # type: ignore[arg-type]
    return cited


def merge_items(task: TaskDef, per_window: Sequence[Sequence[TaskItem]]) -> tuple[TaskItem, ...]:
    """One document's items from its windows' (or its one reply's); see the module docstring."""
    if task.items == "one":
        return (_merge_one(task, [item for items in per_window for item in items]),) if any(per_window) else ()
    if task.merge == "reduce":
        return tuple(item for items in per_window for item in items)
    merged: list[TaskItem] = []
    for items in per_window:
        for item in items:
            same = next((i for i, kept in enumerate(merged) if same_quote(kept.citation, item.citation)), None)
            if same is None:
                merged.append(item)
            elif _better(item.citation, merged[same].citation):  # type: ignore[arg-type]
                merged[same] = item
    return tuple(merged)


def _merge_one(task: TaskDef, items: Sequence[TaskItem]) -> TaskItem:
    values: dict[str, object] = {}
    citations: dict[str, Citation] = {}
    conflicts: list[str] = []
    for field in task.value_fields:
        stated = [(item.values[field.name], item.citations.get(field.name)) for item in items
                  if item.values.get(field.name) is not None]
        values[field.name] = None
        if not stated:
            continue
        best = min(stated, key=lambda s: _RANK[s[1].status] if s[1] else 3)
        values[field.name] = best[0]
        if best[1] is not None:
            citations[field.name] = best[1]
        if len({_canonical(value) for value, _ in stated}) > 1:
            conflicts.append(field.name)
    unsupported = tuple(name for item in items for name in item.unsupported
                        if name in citations and item.citations.get(name) == citations[name])
    return TaskItem(values=values, citations=citations, conflicts=tuple(conflicts),  # type: ignore[arg-type]
                    unsupported=tuple(dict.fromkeys(unsupported)))


def _canonical(value: object) -> object:
    """A value as compared between windows: text by its words, case-blind; lists as sets."""
    if isinstance(value, str):
        return normalize(value)[0].strip(" .")
    if isinstance(value, list):
        return frozenset(_canonical(v) for v in value)
    return value


def _better(new: Citation, old: Citation) -> bool:
    return (_RANK[new.status], -len(new.quote)) < (_RANK[old.status], -len(old.quote))


def check_items(task: TaskDef, items: Sequence[TaskItem], pages: Sequence[Page]) -> tuple[TaskItem, ...]:
    """The items with `unsupported` computed again against `pages` (the document's): for items whose text
    the reduce rewrote, whose claims are the model's new words."""
    return tuple(_checked(task, item.model_copy(update={"unsupported": ()}), pages) for item in items)


def _checked(task: TaskDef, item: TaskItem, pages: Sequence[Page]) -> TaskItem:
    """`unsupported`: the number and date fields whose value neither the located quote nor its page states
    (`cite.facts.check_claim`, the check summary points get); a reduce task's free text is such a claim too."""
    kinds = {f.name: f.type for f in task.value_fields}
    checked = {name for name, kind in kinds.items() if kind in ("integer", "number", "date")}
    if task.merge == "reduce" and task.text_field:  # its text is what the reduce rewrites: its claims count
        checked.add(task.text_field)
    texts = {page.page_number: page.text for page in pages}
    unsupported = []
    for name, value in item.values.items():
        citation = item.citations.get(name) or item.citation
        if value is None or citation is None or name not in checked:
            continue
        page_text = texts.get(citation.page_number, "") if citation.status != "unverified" else ""
        if check_claim(value, citation.quote, page_text).status == "unsupported":
            unsupported.append(name)
    return item.model_copy(update={"unsupported": tuple(unsupported)}) if unsupported else item
