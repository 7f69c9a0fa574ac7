"""How long xgrammar takes to compile the reply grammars of a batch: one per task and page count (the reply
schema bounds page numbers by the document's, `pipeline.tasks.schema`), as vLLM's engine compiles them at a
request's first use.

    python bench/grammar_compile.py FOLDER [--tasks summary,clauses]

Reads each PDF's page count, builds each task's schema for every distinct count, and compiles them with one
`xgrammar.GrammarCompiler` as vLLM 0.24 builds it (cache on, 8 threads, Qwen3's tokenizer), after one warm-up
compile (its tokenizer set-up). Prints one JSON object: distinct page counts, seconds per task. Needs xgrammar
(installed with vLLM).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.plan.tokens import bundled_tokenizer_dir  # noqa: E402
from pipeline.tasks.checklist import load_checklist  # noqa: E402
from pipeline.tasks.responses import json_schema  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--tasks", default="summary,clauses")
    args = parser.parse_args()
    import xgrammar
    from pypdf import PdfReader
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(bundled_tokenizer_dir()))
    compiler = xgrammar.GrammarCompiler(xgrammar.TokenizerInfo.from_huggingface(tokenizer, vocab_size=151_936),
                                        max_threads=8, cache_enabled=True)
    checklist = load_checklist(None)
    counts = sorted({len(PdfReader(pdf).pages) for pdf in args.folder.glob("*.pdf")})
    compiler.compile_json_schema(json.dumps(json_schema("summary", checklist, 1)), any_whitespace=False)  # set-up
    out: dict[str, object] = {"documents_folder": args.folder.name, "distinct_page_counts": len(counts)}
    for task in args.tasks.split(","):
        started = time.perf_counter()
        for count in counts:
            compiler.compile_json_schema(json.dumps(json_schema(task, checklist, count)), any_whitespace=False)
        out[f"{task}_seconds"] = round(time.perf_counter() - started, 2)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
