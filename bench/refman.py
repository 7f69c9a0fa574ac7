"""Benchmark: the windows route on the 2,415-page R reference manual, with the extractive engine.

    python bench/refman.py [--max-context N] [--window-overlap F] [-- extra docpipe run flags]

Fetches refman.pdf once into bench/.cache/ (Debian package r-doc-pdf: `apt-get download` + `dpkg -x`, no
install; needs the apt package lists — run `apt-get update` once if the download says it cannot find the
package), runs `python -m pipeline run` on it in a child process, and prints one JSON object: wall time,
CPU time, peak RSS of the child (getrusage), the route, the windows, the reduce depth, per-stage seconds
and citation counts. The machine's load average is printed too: wall time on a shared machine means little
without it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / "bench" / ".cache"
PACKAGE = "r-doc-pdf"
PDF = CACHE / PACKAGE / "usr" / "share" / "R" / "doc" / "manual" / "refman.pdf"


def fetch() -> Path:
    """refman.pdf from the Debian package, downloaded and unpacked into the cache the first time."""
    if PDF.is_file():
        return PDF
    CACHE.mkdir(parents=True, exist_ok=True)
    for tool in ("apt-get", "dpkg"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found: fetch {PACKAGE} by hand and unpack it into {CACHE / PACKAGE}")
    subprocess.run(["apt-get", "download", PACKAGE], cwd=CACHE, check=True)
    (deb,) = sorted(CACHE.glob(f"{PACKAGE}_*.deb"))[-1:]
    subprocess.run(["dpkg", "-x", str(deb), str(CACHE / PACKAGE)], check=True)
    return PDF


def run(pdf: Path, out: Path, flags: list[str]) -> dict[str, object]:
    """Run docpipe on `pdf` in a child process; wall, CPU and peak RSS of that child."""
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "pipeline", "run", str(pdf), "-o", str(out), "--engine", "extractive", *flags]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    load = os.getloadavg()[0]
    started = time.perf_counter()
    child = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # ru_maxrss: KiB on Linux, largest child
    if child.returncode != 0:
        sys.exit(f"docpipe exited {child.returncode}:\n{child.stderr[-3000:]}")
    return {
        "command": " ".join(command), "exit_code": child.returncode, "wall_s": round(wall, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1), "peak_rss_mib": round(usage.ru_maxrss / 1024),
        "load_average_1min": [round(load, 1), round(os.getloadavg()[0], 1)],
    }


def summarize(out: Path) -> dict[str, object]:
    report = json.loads((out / "run_report.json").read_text())
    (row,) = report["documents"]
    result = json.loads((out / row["doc_id"] / "result.json").read_text())
    route = result["route"]
    return {
        "status": result["status"], "pages": result["source"]["page_count"], "route": route["kind"],
        "whole_tokens_at_least": route["total_tokens"], "largest_prompt_tokens": route["prompt_tokens"],
        "windows": len(route["windows"]), "reduce_depth": route["reduce_depth"],
        "window_spans": [[w["page_start"], w["page_end"], w["prompt_tokens"]] for w in route["windows"]],
        "split_pages": sorted({p["page_number"] for w in route["windows"] for p in w["parts"]}),
        "seconds": {k: round(v, 1) for k, v in row["seconds"].items()}, "citations": row["citations"],
        "summary_points": len(result["summary"]), "clauses": len(result["clauses"]), "errors": result["errors"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-context", type=int, default=131_072)
    parser.add_argument("--window-overlap", type=float, default=0.10)
    parser.add_argument("--out", type=Path, default=CACHE / "refman-out")
    parser.add_argument("extra", nargs="*", help="more `docpipe run` flags (after --)")
    args = parser.parse_args()
    flags = ["--max-context", str(args.max_context), "--window-overlap", str(args.window_overlap), *args.extra]
    measured = run(fetch(), args.out, flags)
    print(json.dumps({**measured, **summarize(args.out)}, indent=2))


if __name__ == "__main__":
    main()
