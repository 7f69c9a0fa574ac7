"""`docpipe run` as a user runs it, watched from outside: when each result appears, and what Ctrl-C does.

    python bench/gpu_stream.py PDFS OUT --json RESULT.json [--interrupt-after K] -- [docpipe run options]

Starts `python -m pipeline run PDFS -o OUT <options>` in its own process group (as a shell starts a
foreground job), polls OUT for `*/result.json` files and records, for each, the seconds since the start at
which it appeared. With `--interrupt-after K`, sends SIGINT to the whole process group (what a terminal's
Ctrl-C does) once K results exist, then records the exit code, whether `run_report.json` was written, and
whether any process of the group outlived docpipe (vLLM's engine processes included).
Issue 16 asks that results appear during the run (not only at its end); issue 22 that Ctrl-C exits 130
with run_report.json and leaves no engine process behind.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def watch(pdfs: Path, out: Path, options: list[str], interrupt_after: int | None, poll_s: float = 0.2) -> dict:
    command = [sys.executable, "-m", "pipeline", "run", str(pdfs), "-o", str(out), *options]
    t0 = time.perf_counter()
    process = subprocess.Popen(command, start_new_session=True)
    seen: dict[str, float] = {}
    interrupted_at = None
    while process.poll() is None:
        for result in out.glob("*/result.json"):
            seen.setdefault(result.parent.name, round(time.perf_counter() - t0, 2))
        if interrupt_after is not None and interrupted_at is None and len(seen) >= interrupt_after:
            interrupted_at = round(time.perf_counter() - t0, 2)
            os.killpg(process.pid, signal.SIGINT)
        time.sleep(poll_s)
    wall = round(time.perf_counter() - t0, 2)
    for result in out.glob("*/result.json"):
        seen.setdefault(result.parent.name, wall)
    time.sleep(2)  # engine processes still shutting down would show here
    report = out / "run_report.json"
    statuses = {}
    for result in out.glob("*/result.json"):
        statuses[result.parent.name] = json.loads(result.read_text(encoding="utf-8")).get("status")
    times = sorted(seen.values())
    return {
        "command": command, "exit_code": process.returncode, "wall_s": wall, "results": len(seen),
        "statuses": {s: list(statuses.values()).count(s) for s in set(statuses.values())},
        "first_result_s": times[0] if times else None, "median_result_s": times[len(times) // 2] if times else None,
        "results_before_last_10pct_of_wall": sum(t < 0.9 * wall for t in times),
        "appeared_s": times, "interrupted_at_s": interrupted_at,
        "run_report_written": report.exists(), "group_alive_after_exit": _group_alive(process.pid),
        "run_report_totals": json.loads(report.read_text())["totals"] if report.exists() else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pdfs", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--interrupt-after", type=int, default=None)
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args, options = parser.parse_args(argv[:split]), argv[split + 1:]  # after --: options of docpipe run
    result = watch(args.pdfs, args.out, options, args.interrupt_after)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "appeared_s"}, indent=1))


if __name__ == "__main__":
    main()
