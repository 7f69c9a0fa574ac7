"""Benchmark (issue 9): is the CPU side fast enough? Ingest + exact counting against raw extraction, both PDF
backends, end to end on 1 and 2 cores, and the memory of reading the 2,415-page R manual.

    python bench/throughput.py [FOLDER] [--jobs N] [--repeat R] [--refman] [--profile] [--json OUT.json]

FOLDER defaults to the 60 CUAD dev contracts (`../shared/data/cuad-dev/pdf` beside the repository). In one run,
one after another, each on the same files:

1. raw pypdf: `PdfReader(f).pages[i].extract_text()` in this process, one core, nothing else — the yardstick —
   and the same in N processes side by side (what the machine gives N extractions at once);
2. docpipe ingest + plan (`pipeline.run.prepare.Preparer`, the runner's own stage: worker processes reading,
   hashing, checking limits, rendering both prompts and counting them exactly) with `--jobs N`, pypdf; wall time
   from the pool's creation (worker start-up and tokenizer loading included), and again with the workers
   started first (`_warm`: the steady state of a long run); target ≥ 0.9 × (raw rate × N);
3. token counting alone (`count_chats` over every document's two prompts) against `ingest` of the same files,
   in one process: target ≤ 5%;
4. the same with `--pdf-backend pypdfium2` (when installed); target ≥ 120 pages/s per core; raw pypdfium2 too;
5. end to end, `python -m pipeline run FOLDER --engine extractive --jobs J` pinned with `taskset` to J cores,
   J = 1 and 2: pages/s;
6. `--refman`: peak RSS of a process that only ingests refman.pdf (fetched by bench/refman.py), per backend;
   target ≤ 400 MB with pypdf.

`--profile` prints the top functions of ingest + plan in one process (cProfile), to see where time goes.
The machine's load average is printed with each step: on a shared machine it says how far to trust walls.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.tasks.checklist import load_checklist  # noqa: E402
from pipeline.config import RunConfig  # noqa: E402
from pipeline.run.prepare import Preparer, default_jobs  # noqa: E402

DEFAULT_FOLDER = REPO.parent / "shared" / "data" / "cuad-dev" / "pdf"


def raw_pypdf(pdfs: list[Path]) -> dict[str, float]:
    from pypdf import PdfReader

    started, pages = time.perf_counter(), 0
    for pdf in pdfs:
        for page in PdfReader(pdf).pages:
            page.extract_text()
            pages += 1
    return _rate(pages, time.perf_counter() - started)


def raw_pdfium(pdfs: list[Path]) -> dict[str, float]:
    import pypdfium2

    started, pages = time.perf_counter(), 0
    for pdf in pdfs:
        document = pypdfium2.PdfDocument(pdf)
        for index in range(len(document)):
            page = document[index]
            textpage = page.get_textpage()
            textpage.get_text_range()
            textpage.close()
            page.close()
            pages += 1
        document.close()
    return _rate(pages, time.perf_counter() - started)


def raw_parallel(pdfs: list[Path], jobs: int, backend: str) -> dict[str, float]:
    """The raw extraction of step 1 (or its pypdfium2 twin) in `jobs` processes side by side, each on every
    `jobs`-th file: what this machine gives when it runs several extractions at once."""
    from concurrent.futures import ProcessPoolExecutor

    work = raw_pypdf if backend == "pypdf" else raw_pdfium
    with ProcessPoolExecutor(jobs) as pool:
        list(pool.map(_noop, range(jobs)))  # processes started before the clock
        started = time.perf_counter()
        pages = sum(r["pages"] for r in pool.map(work, [pdfs[i::jobs] for i in range(jobs)]))
    return _rate(int(pages), time.perf_counter() - started) | {"jobs": jobs}


def _noop(_: int) -> None:
    return None


def prepare(pdfs: list[Path], jobs: int, backend: str, warm: bool = False) -> dict[str, float]:
    """docpipe's ingest + plan stage over `pdfs` with `jobs` worker processes. `warm`: the workers are started
    and have loaded the tokenizer (by preparing one document each, not timed) before the clock starts —
    the steady state of a long run; otherwise their start-up is timed too."""
    options = {"jobs": jobs} | ({"pdf_backend": backend} if backend != "pypdf" else {})
    config = RunConfig(**options)  # type: ignore[arg-type]
    with Preparer(config, load_checklist(None)) as preparer:
        if warm:
            list(preparer.prepare((pdfs[0], None) for _ in range(jobs)))
        started = time.perf_counter()
        done = list(preparer.prepare((pdf, None) for pdf in pdfs))
        wall = time.perf_counter() - started
    failed = [d.path.name for d in done if d.plan is None]
    pages = sum(d.plan.document.source.page_count for d in done if d.plan)
    reading = sum(d.seconds.get("ingest", 0.0) for d in done)
    planning = sum(d.seconds.get("plan", 0.0) for d in done)
    tokens = sum(sum(r.prompt_tokens for r in d.plan.requests) for d in done if d.plan)
    return _rate(pages, wall) | {
        "jobs": jobs, "failed": len(failed), "prompt_tokens": tokens, "ingest_s_sum": round(reading, 2),
        "plan_s_sum": round(planning, 2), "plan_share_of_ingest": round(planning / reading, 4) if reading else 0.0,
        "pages_per_s_per_core": round(pages / wall / jobs, 1), "warm": warm,
    }


def counting(pdfs: list[Path], backend: str) -> dict[str, float]:
    """Token counting alone, in this process: the seconds `count_chats` takes over every document's prompts
    (the same counts the plans hold), against the seconds `ingest` takes over the same files."""
    from pipeline.ingest.read import ingest
    from pipeline.plan.prompts import build_messages
    from pipeline.plan.tokens import load_tokenizer, tokenizer_dir

    tokenizer = load_tokenizer(tokenizer_dir(None))
    checklist, reading, counting_s, tokens = load_checklist(None), 0.0, 0.0, 0
    for pdf in pdfs:
        t0 = time.perf_counter()
        doc = ingest(pdf, backend=backend)  # type: ignore[arg-type]
        reading += time.perf_counter() - t0
        conversations = [build_messages(task, doc.pages, len(doc.pages), checklist,
                                        controls=tokenizer.control_strings()) for task in ("summary", "clauses")]
        t0 = time.perf_counter()
        tokens += sum(tokenizer.count_chats(conversations))
        counting_s += time.perf_counter() - t0
    return {"backend": backend, "encoder": tokenizer.backend, "ingest_s": round(reading, 2),
            "count_s": round(counting_s, 3), "count_share_of_ingest": round(counting_s / reading, 4),
            "prompt_tokens": tokens, "tokens_per_s": round(tokens / counting_s)}


def end_to_end(folder: Path, cores: int, pages: int) -> dict[str, float]:
    """`docpipe run` with the extractive engine, pinned to the first `cores` cores, into a fresh folder."""
    out = Path(tempfile.mkdtemp(prefix="docpipe-e2e-"))
    command = ["taskset", "-c", ",".join(str(c) for c in sorted(os.sched_getaffinity(0))[:cores]),
               sys.executable, "-m", "pipeline", "run", str(folder), "-o", str(out), "--engine", "extractive",
               "--jobs", str(cores)]
    started = time.perf_counter()
    child = subprocess.run(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                           text=True, check=False)
    wall = time.perf_counter() - started
    report = json.loads((out / "run_report.json").read_text())
    shutil.rmtree(out, ignore_errors=True)
    if child.returncode not in (0, 1):
        sys.exit(f"docpipe exited {child.returncode}:\n{child.stderr[-3000:]}")
    return _rate(pages, wall) | {"cores": cores, "command": " ".join(command[3:]), "exit_code": child.returncode,
                                 "ok": report["totals"]["ok"], "documents": report["totals"]["documents"]}


def refman_rss(backend: str) -> dict[str, object]:
    """Peak RSS of a fresh process that only ingests refman.pdf (and a baseline process that only imports)."""
    sys.path.insert(0, str(REPO / "bench"))
    from refman import fetch  # type: ignore[import-not-found]

    pdf = fetch()
    # VmHWM, not getrusage: a forked child's ru_maxrss starts from its parent's resident size.
    code = ("import sys, time; from pathlib import Path; from pipeline.ingest.read import ingest; "
            "t=time.perf_counter(); d=ingest(Path(sys.argv[1]){arg}); "
            "hwm=[l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]; "
            "print(len(d.pages), round(time.perf_counter()-t,1), hwm)")
    arg = "" if backend == "pypdf" else f", backend='{backend}'"
    child = subprocess.run([sys.executable, "-c", code.format(arg=arg), str(pdf)], cwd=REPO, capture_output=True,
                           text=True, check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    pages, seconds, rss_kib = child.stdout.split()
    return {"backend": backend, "pages": int(pages), "seconds": float(seconds),
            "peak_rss_mib": round(int(rss_kib) / 1024)}


def profile(pdfs: list[Path]) -> str:
    """cProfile of ingest + plan in this thread (the Preparer's threads would hide the work from it)."""
    from pipeline.ingest.read import ingest
    from pipeline.plan.routes import plan_document
    from pipeline.plan.tokens import load_tokenizer, tokenizer_dir

    config, checklist = RunConfig(), load_checklist(None)
    tokenizer = load_tokenizer(tokenizer_dir(None))
    profiler = cProfile.Profile()
    profiler.enable()
    for pdf in pdfs:
        plan_document(ingest(pdf), config, tokenizer, checklist)
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(15)
    return text.getvalue()


def _first_pages(results: dict[str, object]) -> int:
    return int(results["raw_pypdf_1_process#1"]["pages"])  # type: ignore[index]


def _rate(pages: int, seconds: float) -> dict[str, float]:
    return {"pages": pages, "seconds": round(seconds, 2), "pages_per_s": round(pages / seconds, 1),
            "load_average_1min": round(os.getloadavg()[0], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--jobs", type=int, default=default_jobs())
    parser.add_argument("--refman", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the pypdf steps (medians)")
    args = parser.parse_args()
    pdfs = sorted(args.folder.glob("*.pdf"))
    results: dict[str, object] = {"folder": str(args.folder), "documents": len(pdfs), "cores": default_jobs(),
                                  "python": sys.version.split()[0]}
    # The pypdf steps that make the ratio, `--repeat` times interleaved (a shared VM's speed drifts between
    # minutes): each run is kept, and the ratio is taken between medians.
    steps = [step for round_ in range(1, args.repeat + 1) for step in (
        (f"raw_pypdf_1_process#{round_}", lambda: raw_pypdf(pdfs)),
        (f"raw_pypdf_{args.jobs}_processes#{round_}", lambda: raw_parallel(pdfs, args.jobs, "pypdf")),
        (f"docpipe_ingest_plan_pypdf#{round_}", lambda: prepare(pdfs, args.jobs, "pypdf")),
        (f"docpipe_ingest_plan_pypdf_warm#{round_}", lambda: prepare(pdfs, args.jobs, "pypdf", warm=True)))]
    steps += [("counting_pypdf", lambda: counting(pdfs, "pypdf"))]
    if _has("pypdfium2"):
        steps += [("raw_pypdfium2_1_process", lambda: raw_pdfium(pdfs)),
                  ("docpipe_ingest_plan_pypdfium2", lambda: prepare(pdfs, args.jobs, "pypdfium2")),
                  ("docpipe_ingest_plan_pypdfium2_warm", lambda: prepare(pdfs, args.jobs, "pypdfium2", warm=True)),
                  ("counting_pypdfium2", lambda: counting(pdfs, "pypdfium2"))]
    # the page count the first raw step read (every later step reads the same files)
    steps += [(f"end_to_end_extractive_{n}_cores", lambda n=n: end_to_end(args.folder, n, _first_pages(results)))
              for n in (1, 2) if n <= default_jobs()]
    if args.refman:
        steps += [("refman_ingest_pypdf", lambda: refman_rss("pypdf"))]
        steps += [("refman_ingest_pypdfium2", lambda: refman_rss("pypdfium2"))] if _has("pypdfium2") else []
    for name, step in steps:
        results[name] = step()
        print(json.dumps({name: results[name]}), flush=True)
    def median(name: str) -> float:
        return statistics.median(results[f"{name}#{r}"]["pages_per_s"] for r in range(1, args.repeat + 1))  # type: ignore[index]

    raw, side_by_side = median("raw_pypdf_1_process"), median(f"raw_pypdf_{args.jobs}_processes")
    ratios: dict[str, object] = {"median_pages_per_s": {
        "raw_1_process": raw, "raw_side_by_side": side_by_side, "docpipe": median("docpipe_ingest_plan_pypdf"),
        "docpipe_warm": median("docpipe_ingest_plan_pypdf_warm")}}
    for name in ("docpipe_ingest_plan_pypdf", "docpipe_ingest_plan_pypdf_warm"):
        ours = median(name)
        ratios[name] = {"vs_raw_1_process_times_jobs": round(ours / (raw * args.jobs), 3),
                        "vs_raw_side_by_side": round(ours / side_by_side, 3)}
    results["ratios"] = ratios
    print(json.dumps({"ratios": ratios, "target": 0.9}))
    if args.profile:
        print(profile(pdfs))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


if __name__ == "__main__":
    main()
