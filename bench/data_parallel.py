"""Benchmark of `--data-parallel`: the real pipeline (`pipeline.run.core.run`, what `docpipe run` calls) over one
folder of mixed-length documents with 1, 2, … engine workers, side by side.

  python bench/data_parallel.py docs DOCS [--count 120] [--min-tokens 4000] [--max-tokens-doc 28000]
  python bench/data_parallel.py run --docs DOCS --out OUT [--sizes 1,2] [--engine vllm --model DIR]
                                    [--reply-tokens 256] [--batch-documents 256] [--json FILE]

Each size runs in a fresh process (`one`), one after the other, so every run starts its engines and frees its
GPUs. Engine settings come from the environment as in any run (`DOCPIPE_LOAD_FORMAT=dummy` for random
weights, `DOCPIPE_ENFORCE_EAGER=1`, …). Printed per size: wall time of the run (engine start included), engine
time (the wall time of the batches' generate calls), ingest + plan time, document tokens (each document's
largest prompt, as in run_report.json) per engine second and documents per second, and each one's ratio to the first size. Results of every size must be the same
documents with the same statuses (with a deterministic engine, the same results).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.config import EngineSettings, RunConfig  # noqa: E402
from pipeline.run.core import run as run_pipeline  # noqa: E402
from pipeline.plan.tokens import bundled_tokenizer_dir, load_tokenizer  # noqa: E402

WORDS = ("agreement party shall may term payment licence notice breach indemnify warranty liability confidential "
         "information governing law section exhibit services products supplier customer territory exclusive right "
         "obligation effective date termination renewal fee royalty invoice days written consent assign affiliate "
         "insurance audit records dispute arbitration court jurisdiction property trademark patent delivery goods "
         "price order purchase damages limitation force majeure compliance employee representation covenant").split()
PAGE_WORDS = 1_200  # a dense page (6 pt), so that reading PDFs stays small beside the engine's work


def make_docs(folder: Path, count: int, low: int, high: int, seed: int = 0) -> None:
    """`count` PDFs with text of `low`…`high` tokens, log-uniformly spread (many short, some long)."""
    from fpdf import FPDF

    tokenizer = load_tokenizer(bundled_tokenizer_dir())
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for index in range(count):
        target = int(low * (high / low) ** rng.random())
        pages, tokens = [], 0
        while tokens < target:
            text = _page_text(rng, min(PAGE_WORDS, max(20, int((target - tokens) / 1.3))))
            pages.append(text)
            tokens += tokenizer.count(text)
        pdf = FPDF(format="A4")
        pdf.set_auto_page_break(False)
        pdf.set_font("Helvetica", size=6)
        for text in pages:
            pdf.add_page()
            pdf.set_xy(5, 5)
            pdf.multi_cell(200, 2.4, text)
        pdf.output(str(folder / f"doc-{index:04d}.pdf"))
        total += tokens
    print(f"{count} documents, {total} text tokens in {folder}")


def _page_text(rng: random.Random, words: int) -> str:
    out = [rng.choice(WORDS) for _ in range(words)]
    return " ".join(w + ("." if i % 17 == 16 else "") for i, w in enumerate(out)) + "."


def one(args: argparse.Namespace) -> dict[str, Any]:
    """One run with `args.n` workers; its measurements as a dict (also printed as one JSON line)."""
    config = RunConfig(
        engine=args.engine, model=args.model, summary_reserve=args.reply_tokens, clauses_reserve=args.reply_tokens,
        batch_documents=args.batch_documents, engine_settings=EngineSettings(data_parallel_size=args.n),
    )
    t0 = time.perf_counter()
    report = run_pipeline([Path(args.docs)], Path(args.out), config)
    wall = time.perf_counter() - t0
    docs = report.documents

    def phase(name: str) -> float:
        return sum(d.seconds.get(name, 0.0) for d in docs)

    return {
        "workers": args.n, "documents": len(docs), "statuses": {d.doc_id: d.status for d in docs},
        "prompt_tokens": int(report.totals["prompt_tokens"]), "wall_s": wall, "engine_s": phase("engine"),
        "ingest_plan_s": phase("ingest") + phase("plan"), "assemble_s": phase("assemble"),
    }


def compare(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        command = [sys.executable, __file__, "one", "--n", str(n), "--docs", args.docs, "--out",
                   str(Path(args.out) / f"dp{n}"), "--engine", args.engine, "--reply-tokens", str(args.reply_tokens),
                   "--batch-documents", str(args.batch_documents)] + (["--model", args.model] if args.model else [])
        done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    if any(r["statuses"] != rows[0]["statuses"] for r in rows):
        raise SystemExit("error: the sizes disagree on documents or statuses")
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    first = rows[0]
    lines = ["| workers | documents | document tokens | wall s | engine s | ingest+plan s | doc tok/s (engine) "
             "| docs/s (wall) | speed-up engine | speed-up wall |", "|" + "---|" * 10]
    for r in rows:
        lines.append(
            f"| {r['workers']} | {r['documents']} | {r['prompt_tokens']:,} | {r['wall_s']:.1f} | {r['engine_s']:.1f} "
            f"| {r['ingest_plan_s']:.1f} | {r['prompt_tokens'] / max(r['engine_s'], 1e-9):,.0f} "
            f"| {r['documents'] / r['wall_s']:.2f} | {first['engine_s'] / max(r['engine_s'], 1e-9):.2f}× "
            f"| {first['wall_s'] / r['wall_s']:.2f}× |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    docs = commands.add_parser("docs", help="generate the documents")
    docs.add_argument("folder")
    docs.add_argument("--count", type=int, default=120)
    docs.add_argument("--min-tokens", type=int, default=4_000)
    docs.add_argument("--max-tokens-doc", type=int, default=28_000, help="≤ ~30,000 keeps every document native")
    docs.add_argument("--seed", type=int, default=0)
    for name in ("run", "one"):
        sub = commands.add_parser(name, help="compare sizes" if name == "run" else "one size (used by run)")
        sub.add_argument("--docs", required=True)
        sub.add_argument("--out", required=True)
        sub.add_argument("--engine", default="extractive")
        sub.add_argument("--model", default=None)
        sub.add_argument("--reply-tokens", type=int, default=256, help="output reserve of each task")
        sub.add_argument("--batch-documents", type=int, default=256, help="documents per generate call")
        if name == "run":
            sub.add_argument("--sizes", default="1,2")
            sub.add_argument("--json", default=None)
        else:
            sub.add_argument("--n", type=int, required=True)
    args = parser.parse_args()
    if args.command == "docs":
        make_docs(Path(args.folder), args.count, args.min_tokens, args.max_tokens_doc, args.seed)
    elif args.command == "one":
        print(json.dumps(one(args)))
    else:
        compare(args)


if __name__ == "__main__":
    main()
