"""Regenerate docs/evaluation.md from the committed code: every number in it comes from this one command.

Usage:
    python bench/evaluation_doc.py CUAD_FOLDER --work DIR [--output docs/evaluation.md] [--jobs N]

CUAD_FOLDER is a folder in CUAD's layout (`pdf/` + `master_clauses.csv`; the team's is the 60-contract dev set).
Its contracts are split in two fixed halves (`pipeline.eval.split`: ordered by the sha256 of the file name,
first half `tune`, second `held-out`). On each half it runs `evaluate_cuad` with the extractive engine as
committed, the same engine without its header/footer/TOC cut (`cut_boilerplate=False`, the engine before that
change) and the keyword engine; results go to DIR/<split>-<engine>/ (re-scored, not re-run, when DIR already
holds them for the same configuration, except the uncut engine, which always runs). It also runs the extractive
summary on every contract, with and without the cut, and counts the points that quote a page header, footer
or table-of-contents line, by an independent test: a line of 8+ characters found verbatim on 3+ pages of the
contract, or a dot-leader line ending in a page number. Then it writes the Markdown page (tables and the
prose of bench/evaluation.md.j2), naming the commit the code came from.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import jinja2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.config import RunConfig  # noqa: E402
from pipeline.engines.extractive import ExtractiveEngine, summarize  # noqa: E402
from pipeline.eval.cuad import load_cuad  # noqa: E402
from pipeline.eval.evaluate import evaluate_cuad  # noqa: E402
from pipeline.eval.report import EvalReport  # noqa: E402
from pipeline.eval.split import select  # noqa: E402
from pipeline.ingest.read import ingest  # noqa: E402

SPLITS = ("tune", "held-out")
ENGINES = ("extractive", "extractive-uncut", "keyword")
LEADER = re.compile(r"(?:(?:\.\s?){4,}|…{2,}|_{4,})\s*\d{1,4}\s*$")


def evaluate(data: Path, work: Path, split: str, engine: str, jobs: int | None) -> EvalReport:
    config = RunConfig(engine="keyword" if engine == "keyword" else "extractive", jobs=jobs)
    uncut = ExtractiveEngine(cut_boilerplate=False) if engine == "extractive-uncut" else None
    return evaluate_cuad(data, work / f"{split}-{engine}", config, engine=uncut, split=split)  # type: ignore[arg-type]


def boilerplate_points(data: Path, split: str) -> dict[str, int]:
    """Summary points (8 a contract) quoting a repeated or TOC line, with and without the engine's cut."""
    docs, _ = load_cuad(data)
    names = set(select([d.pdf.name for d in docs], split))  # type: ignore[arg-type]
    counts: Counter[str] = Counter()
    for doc in (d for d in docs if d.pdf.name in names):
        pages = ingest(doc.pdf).pages
        lines = Counter(line for p in pages for line in {" ".join(x.split()) for x in p.text.splitlines()}
                        if len(line) >= 8)
        repeated = {line for line, n in lines.items() if n >= 3}
        for cut in (True, False):
            key = "cut" if cut else "uncut"
            for point in summarize(pages, 8, cut).points:
                counts[f"{key}_points"] += 1
                quoted = {" ".join(x.split()) for x in point.quote.splitlines()}
                if quoted & repeated or any(LEADER.search(x) for x in quoted):
                    counts[f"{key}_boilerplate"] += 1
                    counts[f"{key}_contracts:{doc.pdf.name}"] = 1
        counts["contracts"] += 1
    return {"contracts": counts["contracts"], **{
        f"{key}_{what}": counts[f"{key}_{what}"] for key in ("cut", "uncut") for what in ("points", "boilerplate")},
        **{f"{key}_contracts": sum(1 for k in counts if k.startswith(f"{key}_contracts:")) for key in ("cut", "uncut")}}


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()

    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "pipeline", "bench")
    return git("rev-parse", "--short=10", "HEAD") + (" + uncommitted changes" if dirty else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path)
    parser.add_argument("--work", type=Path, required=True, help="folder for the evaluation runs")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "evaluation.md")
    parser.add_argument("--jobs", type=int, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    source = commit()  # before the runs: the code they use
    reports = {(s, e): evaluate(args.data, args.work, s, e, args.jobs) for s in SPLITS for e in ENGINES}
    summaries = {s: boilerplate_points(args.data, s) for s in SPLITS}
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(ROOT / "bench"), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = lambda v: "–" if v is None else f"{100 * v:.1f}"
    text = env.get_template("evaluation.md.j2").render(
        reports={f"{s}/{e}": r.model_dump() for (s, e), r in reports.items()}, splits=SPLITS, engines=ENGINES,
        summaries=summaries, commit=source, date=dt.date.today().isoformat(), data=args.data.resolve().name,
        command=f"python bench/evaluation_doc.py {args.data.resolve().name}/ --work eval-work/",
        categories=list(reports[("held-out", "extractive")].per_category))
    args.output.write_text(text, encoding="utf-8")
    print(json.dumps({f"{s}/{e}": round(100 * (r.overall.f1 or 0), 1) for (s, e), r in reports.items()}))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
