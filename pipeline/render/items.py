"""Results as task → items: the one shape the spreadsheet and the cross-document view are written over.

Contract: `task_items(result)` maps each task that produced items for the document to its items, in the
result's order: `summary` → one item per point (group "Summary", text = the point), `clauses` → one item per
clause (group = its category, text = the quote). Every item carries its Citation. A task added to DocResult
needs one more branch here, and every export and view then shows it.
`engine_label(engine)` is how every human-facing output names an engine: the model-free engines are called
what they are, a "model-free baseline".
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.models import Citation, DocResult, EngineInfo

MODEL_FREE = frozenset({"extractive", "keyword"})
SUMMARY_GROUP = "Summary"


@dataclass(frozen=True)
class TaskItem:
    task: str
    group: str  # the field the item answers: a clause category, or "Summary"
    text: str
    citation: Citation
    conflict: bool = False
    key: str = ""  # the item's anchor in the document's report.html: s<n> (summary) or c<n> (clause)


def task_items(result: DocResult) -> dict[str, list[TaskItem]]:
    """The document's items per task; see the module docstring."""
    out: dict[str, list[TaskItem]] = {}
    if result.summary:
        out["summary"] = [TaskItem("summary", SUMMARY_GROUP, p.text, p.citation, key=f"s{i}")
                          for i, p in enumerate(result.summary, 1)]
    if result.clauses:
        out["clauses"] = [TaskItem("clauses", c.category, c.citation.quote, c.citation, c.conflict, key=f"c{i}")
                          for i, c in enumerate(result.clauses, 1)]
    return out


def is_model_free(engine: EngineInfo) -> bool:
    return engine.name in MODEL_FREE


def engine_label(engine: EngineInfo) -> str:
    """`extractive (model-free baseline)`, `vllm (Qwen/Qwen3-8B)`, …"""
    if is_model_free(engine):
        return f"{engine.name} (model-free baseline)"
    return engine.name + (f" ({engine.model})" if engine.model else "")
