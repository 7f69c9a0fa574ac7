"""Benchmark: a full `docpipe run` over a folder, then incremental reruns.

    python bench/incremental.py FOLDER [--reruns 5] [--engine extractive] [--keep OUT]

Runs the real CLI (`python -m pipeline run FOLDER -o OUT`) as a subprocess each time, into a fresh
output folder, and reports wall-clock and CPU seconds (user + system of the child) for
1. the full run (every document processed);
2. reruns with nothing changed (median of --reruns): the target is under 2% of the full run;
3. a rerun after touching every file (same bytes, new mtime: every file hashed again, nothing redone);
4. a rerun after one file changed (that document redone: tokenizer and engine loaded for it).
Prints one JSON object; docs/bench-incremental.md holds the numbers measured here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def timed_run(folder: Path, out: Path, engine: str) -> dict[str, float]:
    """One CLI run: wall and CPU seconds, exit code, and the run report's totals."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", "run", str(folder), "-o", str(out), "--engine", engine],
        env=os.environ | {"PYTHONPATH": str(REPO)}, capture_output=True, text=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"docpipe run failed ({proc.returncode}): {proc.stderr}")
    totals = json.loads((out / "run_report.json").read_text())["totals"]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "exit": proc.returncode,
            "processed": totals["processed"], "reused": totals["reused"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--reruns", type=int, default=5)
    parser.add_argument("--engine", default="extractive")
    parser.add_argument("--keep", type=Path, help="output folder to keep (default: a temporary one)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="docpipe-bench-"))
    folder = work / "in"
    shutil.copytree(args.folder, folder)  # a copy: the benchmark touches and changes files
    out = args.keep or work / "out"
    try:
        full = timed_run(folder, out, args.engine)
        reruns = [timed_run(folder, out, args.engine) for _ in range(args.reruns)]
        for path in folder.rglob("*.pdf"):
            os.utime(path)
        touched = timed_run(folder, out, args.engine)
        with sorted(folder.rglob("*.pdf"))[0].open("ab") as handle:
            handle.write(b"% changed by the benchmark\n")  # new bytes after %%EOF: a new sha256, same text
        changed = timed_run(folder, out, args.engine)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    median = {key: statistics.median(r[key] for r in reruns) for key in ("wall_s", "cpu_s")}
    print(json.dumps({
        "folder": str(args.folder), "documents": int(full["processed"]), "engine": args.engine,
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}",
        "python": platform.python_version(),
        "full": full, "rerun_unchanged": reruns, "rerun_unchanged_median": median,
        "rerun_share_of_full": {k: round(median[k] / full[k], 4) for k in median},
        "rerun_all_touched": touched, "rerun_one_changed": changed,
    }, indent=2))


if __name__ == "__main__":
    main()
