"""Compare `docpipe eval cuad` reports side by side, as Markdown (the tables of docs/evaluation.md).

Usage:
    python bench/eval_compare.py OUT_A/eval.json OUT_B/eval.json ...

Prints one overall row per report (precision, recall, F1, macro F1, page accuracy, absent and present
accuracy, citation health, AUPR and P@80%R where computed), then per category: gold spans and each report's F1.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def label(report: dict) -> str:
    engine = report["engine"]
    return engine["name"] + (f" ({engine['model']})" if engine.get("model") else "")


def overall_table(reports: list[dict]) -> list[str]:
    head = ["engine", "P", "R", "F1", "macro F1", "page acc", "absent acc", "present acc", "cites ver/rel/unv",
            "AUPR", "P@80%R"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in reports:
        o, c = r["overall"], r["overall"]["citations"]
        lines.append(f"| {label(r)} | {pct(o['precision'])} | {pct(o['recall'])} | {pct(o['f1'])} | "
                     f"{pct(o['macro_f1'])} | {pct(o['page_accuracy'])} | {pct(o['absent_accuracy'])} | {pct(o['present_accuracy'])} | "
                     f"{c['verified']}/{c['relocated']}/{c['unverified']} | {pct(o['aupr'])} | "
                     f"{pct(o['precision_at_80_recall'])} |")
    return lines


def category_table(reports: list[dict]) -> list[str]:
    names = list(reports[0]["per_category"])
    lines = ["| category | gold | " + " | ".join(f"F1 {label(r)}" for r in reports) + " |",
             "|---|---|" + "---|" * len(reports)]
    for name in names:
        gold = reports[0]["per_category"][name]["gold"]
        cells = [pct(r["per_category"].get(name, {}).get("f1")) for r in reports]
        lines.append(f"| {name} | {gold} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reports", nargs="+", type=Path)
    args = parser.parse_args()
    reports = [json.loads(p.read_text(encoding="utf-8")) for p in args.reports]
    print("\n".join([*overall_table(reports), "", *category_table(reports)]))


if __name__ == "__main__":
    main()
