"""Scores → the `eval.json` contract and its Markdown table.

Contract: `build_report(items, …)` scores every item with `score`'s rules and returns an EvalReport:
`overall` (micro over all items, plus the macro F1 over categories with gold spans) and `per_category` in
the order the categories are given. AUPR and precision at 80% recall are filled only when every
prediction carries a confidence (`confidences` says so); otherwise they are null. The report holds no
timestamps, so a deterministic engine gives a byte-identical `eval.json`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import Field

from pipeline.eval.score import (
    JACCARD_MIN, SUBSTRING_CATEGORIES, Counts, Item, aupr, f1, has_confidences, pr_curve, precision,
    precision_at_recall, ratio, recall, total,
)
from pipeline.models import EngineInfo, Frozen
from pipeline.render.result import write_atomic

EVAL_SCHEMA_VERSION = "1.0"
RECALL_LEVEL = 0.8


class Scores(Frozen):
    """Counts and the ratios made from them; a ratio over nothing is null."""

    gold: int = Field(description="expert-labelled spans")
    predicted: int = Field(description="predicted clauses (repeats of one text counted once)")
    tp: int = Field(description="gold spans matched by some prediction")
    fp: int = Field(description="predictions matching no gold span")
    fn: int = Field(description="gold spans no prediction matched")
    precision: float | None
    recall: float | None
    f1: float | None
    page_accuracy: float | None = Field(description="matched predictions citing a page that holds the span")
    page_correct: int
    page_total: int
    absent_accuracy: float | None = Field(description="(document, category) pairs without gold said absent")
    absent_correct: int
    absent_total: int
    present_accuracy: float | None = Field(description="(document, category) pairs with gold not said absent")
    present_correct: int
    present_total: int
    citations: dict[str, int] = Field(description="predicted clauses by citation status")
    aupr: float | None = Field(default=None, description="CUAD's AUPR; null when the engine gives no confidences")
    precision_at_80_recall: float | None = None


class Overall(Scores):
    macro_f1: float | None = Field(default=None, description="mean F1 over categories with gold spans")


class EvalReport(Frozen):
    """The `eval.json` contract."""

    schema_version: str = EVAL_SCHEMA_VERSION
    dataset: str
    engine: EngineInfo
    run_key: str = Field(description="hash of the run configuration the results came from")
    documents: dict[str, int] = Field(description="contracts scored (total) by result status; missing_pdf: "
                                      "rows of the master sheet without a PDF, not scored")
    gold_unplaced: int = Field(description="gold spans found on no page (left out of page accuracy)")
    matching: dict[str, object]
    confidences: bool = Field(description="whether every prediction had a confidence (AUPR computed)")
    overall: Overall
    per_category: dict[str, Scores]


def scores(items: Sequence[Item], confidences: bool) -> Scores:
    c = total(items)
    curve = pr_curve(items) if confidences else None
    return Scores(
        gold=c.gold, predicted=c.predicted, tp=c.tp, fp=c.fp, fn=c.fn,
        precision=precision(c), recall=recall(c), f1=f1(c),
        page_accuracy=ratio(c.page_correct, c.page_total), page_correct=c.page_correct, page_total=c.page_total,
        absent_accuracy=ratio(c.absent_correct, c.absent_total), absent_correct=c.absent_correct,
        absent_total=c.absent_total, present_accuracy=ratio(c.present_correct, c.present_total),
        present_correct=c.present_correct, present_total=c.present_total, citations=_citations(c),
        aupr=aupr(curve) if curve else None,
        precision_at_80_recall=precision_at_recall(curve, RECALL_LEVEL) if curve else None,
    )


def _citations(c: Counts) -> dict[str, int]:
    return {"verified": c.verified, "relocated": c.relocated, "unverified": c.unverified}


def build_report(
    items: Sequence[Item], categories: Sequence[str], *, dataset: str, engine: EngineInfo, run_key: str,
    documents: dict[str, int], gold_unplaced: int,
) -> EvalReport:
    """Score `items` overall and per category (in `categories`' order)."""
    confidences = has_confidences(items)
    per_category = {name: scores([i for i in items if i.category == name], confidences) for name in categories}
    f1s = [s.f1 for s in per_category.values() if s.gold and s.f1 is not None]
    overall = Overall(**scores(items, confidences).model_dump(), macro_f1=sum(f1s) / len(f1s) if f1s else None)
    matching = {"jaccard_min": JACCARD_MIN, "substring_categories": sorted(SUBSTRING_CATEGORIES)}
    return EvalReport(dataset=dataset, engine=engine, run_key=run_key, documents=documents,
                      gold_unplaced=gold_unplaced, matching=matching, confidences=confidences, overall=overall,
                      per_category=per_category)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _row(name: str, s: Scores, confidences: bool) -> str:
    cites = f"{s.citations['verified']}/{s.citations['relocated']}/{s.citations['unverified']}"
    cells = [name, str(s.gold), str(s.predicted), str(s.tp), _pct(s.precision), _pct(s.recall), _pct(s.f1),
             _pct(s.page_accuracy), _pct(s.absent_accuracy), _pct(s.present_accuracy), cites]
    if confidences:
        cells += [_pct(s.aupr), _pct(s.precision_at_80_recall)]
    return "| " + " | ".join(cells) + " |"


def markdown(report: EvalReport) -> str:
    """The report as a Markdown table: overall first, then each category (percentages)."""
    o, conf = report.overall, report.confidences
    head = ["category", "gold", "pred", "TP", "P", "R", "F1", "page acc", "absent acc", "present acc",
            "cites ver/rel/unv"]
    head += ["AUPR", "P@80%R"] if conf else []
    docs = ", ".join(f"{n} {k}" for k, n in report.documents.items())
    lines = [
        f"# CUAD evaluation: {report.engine.name}" + (f" ({report.engine.model})" if report.engine.model else ""),
        "",
        f"Dataset `{report.dataset}`: {docs}. Match: word-level Jaccard ≥ {JACCARD_MIN} (CUAD's rule). "
        f"Macro F1 {_pct(o.macro_f1)}." + ("" if conf else " AUPR: not computed (the engine gives no confidences)."),
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        _row("**overall**", o, conf),
        *(_row(name, s, conf) for name, s in report.per_category.items()),
        "",
    ]
    return "\n".join(lines)


def write_report(output: Path, report: EvalReport) -> tuple[Path, Path]:
    """Write `OUT/eval.json` and `OUT/eval.md`."""
    json_path, md_path = output / "eval.json", output / "eval.md"
    write_atomic(json_path, report.model_dump_json(indent=2) + "\n")
    write_atomic(md_path, markdown(report))
    return json_path, md_path
