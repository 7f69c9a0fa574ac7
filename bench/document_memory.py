"""Benchmark: peak memory of a PDF reader process on the 40 × 70 MB stream file (tests/hostile_pdfs.py).

    python bench/document_memory.py [--max-document-mb 256] [--pages 40] [--backend pypdf]

Reads a small PDF, then the hostile one (2.7 MB on disk, 40 streams of 70 MB decoded), in one reader worker
(`pipeline.run.reader.DocumentReader`), and reports the worker's resident memory from /proc: VmRSS after
the small PDF, VmHWM (peak resident) after the hostile one, the growth, the outcome, and the worker's
RLIMIT_AS. Memory, not time, is the figure here. Prints one JSON object; docs/limits.md holds the numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.config import MAX_DOCUMENT_MB, RunConfig  # noqa: E402
from pipeline.run.reader import DocumentReader  # noqa: E402
from tests.conftest import write_pdf  # noqa: E402
from tests.hostile_pdfs import many_bombs, process_memory  # noqa: E402

MB = 1_000_000  # as --max-document-mb counts


def _address_limit(pid: int) -> str:
    rows = [r for r in Path(f"/proc/{pid}/limits").read_text().splitlines() if r.startswith("Max address space")]
    return rows[0].split()[3] if rows else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-document-mb", type=int, default=MAX_DOCUMENT_MB)
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--backend", default="pypdf")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        hostile = many_bombs(Path(tmp) / "bombs.pdf", pages=args.pages)
        size = hostile.stat().st_size
        small = write_pdf(Path(tmp) / "small.pdf", ["A small contract."])
        config = RunConfig(max_document_mb=args.max_document_mb, pdf_backend=args.backend)  # type: ignore[arg-type]
        with DocumentReader(config) as reader:
            reader.read(small)
            pid = reader._process.pid  # type: ignore[union-attr]
            before = process_memory(pid)
            try:
                document = reader.read(hostile)
                outcome = f"ok ({len(document.pages)} pages)"
            except Exception as exc:  # noqa: BLE001 — the outcome is what we report
                outcome = f"{type(exc).__name__}: {exc}"
            after = process_memory(pid) if reader._process is not None else {}
            limit = _address_limit(pid) if reader._process is not None else "?"
    print(json.dumps({
        "file_bytes": size, "pages": args.pages,
        "backend": args.backend, "max_document_mb": args.max_document_mb, "outcome": outcome,
        "rss_before_mb": round(before["VmRSS"] / MB), "peak_rss_mb": round(after.get("VmHWM", 0) / MB),
        "growth_mb": round((after.get("VmHWM", 0) - before["VmRSS"]) / MB), "rlimit_as": limit,
    }, indent=2))


if __name__ == "__main__":
    main()
