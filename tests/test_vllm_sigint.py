"""Ctrl-C on the vLLM path (issue 22), with the real engine on the CPU: SIGINT to docpipe's whole process
group — what a terminal sends — must not reach vLLM's engine processes; docpipe records what is finished,
stops the engine itself and exits 130 with run_report.json, leaving no engine process behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

if os.environ.get("DOCPIPE_REQUIRE_VLLM") != "1":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pytest.importorskip("vllm")

from tests.conftest import REPO, filler, write_pdf  # noqa: E402
from tests.tiny_qwen3 import build  # noqa: E402

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


def _descendants(pid: int) -> dict[int, int]:
    """pid → process group of every living descendant of `pid` (from /proc)."""
    parents: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if fields[0] != "Z":  # zombies are gone, only not yet reaped
                parents[int(entry.name)] = (int(fields[1]), int(fields[2]))  # ppid, pgrp
    found, frontier = {}, [pid]
    while frontier:
        current = frontier.pop()
        for child, (ppid, pgrp) in parents.items():
            if ppid == current and child not in found:
                found[child] = pgrp
                frontier.append(child)
    return found


def test_sigint_to_the_process_group_is_a_clean_stop(tmp_path):
    inputs, out = tmp_path / "in", tmp_path / "out"
    for i in range(24):
        write_pdf(inputs / f"doc{i:02d}.pdf", [f"Document {i}, page {p}. " + filler(300 + i) for p in range(2)])  # 24 contents
    model = build(tmp_path / "tiny-qwen3")
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2", "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "pipeline", "run", str(inputs), "-o", str(out), "--engine", "vllm",
               "--model", str(model), "--enforce-eager", "--jobs", "1", "--max-context", "8192",
               "--batch-documents", "4"]
    # start_new_session: docpipe leads its own group, as a shell's foreground job does
    process = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not list(out.glob("*/result.json")) and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        assert process.poll() is None, f"docpipe ended before the first result: {process.stderr.read()[-3000:]}"
        engine_side = _descendants(process.pid)
        assert any(pgrp != process.pid for pgrp in engine_side.values()), engine_side  # vLLM's own group
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    report = json.loads((out / "run_report.json").read_text())
    done = [d for d in report["documents"] if d["status"] in {"ok", "partial"}]
    assert done  # what was finished is recorded (how much depends on timing); the rest is left for the next run
    for doc in done:
        assert (out / doc["doc_id"] / "result.json").exists()
    time.sleep(2)
    leftovers = [pid for pid in engine_side if Path(f"/proc/{pid}").exists()
                 and (Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z")]
    assert not leftovers, f"engine processes outlived docpipe: {leftovers}"
    # the next run reuses every recorded document and does the rest
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode in (0, 1), again.stderr[-3000:]
    totals = json.loads((out / "run_report.json").read_text())["totals"]
    assert totals["reused"] == len(done) and totals["documents"] == 24
