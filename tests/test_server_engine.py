"""The server engine against a small local HTTP server (tests/fake_server.py): retries bounded and counted,
clear per-document errors, the other documents unaffected, the API key kept secret, the request bodies of
each server kind, the server's context capping the routes. Tiny timeouts and backoffs keep it fast."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.config import RunConfig, ServerSettings
from pipeline.engines.http import RetryPolicy
from pipeline.engines.server import ServerEngine, api_root
from pipeline.errors import ConfigError, EngineError
from pipeline.models import DocResult, Message, Plan
from pipeline.run.core import plan_inputs, run
from tests.conftest import filler, write_pdf
from tests.fake_server import MODEL, USAGE, FakeServer

CHECKLIST = "name,description\nGoverning Law,which law governs\nAnti-Assignment,consent to assign\n"
MARKERS = ("Alpha", "Bravo", "Charlie")


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    for marker in MARKERS:
        write_pdf(folder / f"{marker}.pdf", [f"{marker} agreement. " + filler(60, marker), filler(40, "p2")])
    (tmp_path / "checklist.csv").write_text(CHECKLIST)
    return folder


def config(url: str, inputs: Path, **server: object) -> RunConfig:
    settings = {"base_url": url, "max_retries": 3, "backoff": 0.01, "backoff_max": 0.05, "request_timeout": 5.0,
                **server}
    return RunConfig(engine="server", model=MODEL, checklist=inputs.parent / "checklist.csv", summary_reserve=256,
                     clauses_reserve=256, server=ServerSettings(**settings))  # type: ignore[arg-type]


def results(out: Path) -> dict[str, DocResult]:
    found = [DocResult.model_validate_json(p.read_text()) for p in out.glob("*/result.json")]
    return {Path(r.source.path).stem: r for r in found if r.source}


def attempts(server: FakeServer, marker: str) -> list[int]:
    return [server.attempts[(marker, task)] for task in ("summary", "clauses")]


def test_429_and_503_are_retried_until_the_server_answers(inputs, tmp_path):
    with FakeServer({"Alpha": [429, 429, "ok"], "Bravo": [503, "ok"], "Charlie": ["ok"]}) as server:
        report = run([inputs], tmp_path / "out", config(server.url, inputs))
    docs = results(tmp_path / "out")
    assert {name: d.status for name, d in docs.items()} == dict.fromkeys(MARKERS, "ok")
    assert attempts(server, "Alpha") == [3, 3] and attempts(server, "Bravo") == [2, 2]
    assert attempts(server, "Charlie") == [1, 1]
    assert report.engine.model == MODEL and docs["Alpha"].engine.name == "server"
    for doc in docs.values():  # the server's own token counts, two requests per document
        assert doc.usage == {"prompt_tokens": 2 * USAGE["prompt_tokens"],
                             "output_tokens": 2 * USAGE["completion_tokens"], "requests": 2,
                             "attempts": 2, "failed": 0, "finish_stop": 2}
        assert doc.summary[0].text.startswith("about ")


def test_retries_are_bounded_and_the_failure_says_why(inputs, tmp_path):
    with FakeServer({"Alpha": [503], "Bravo": ["drop"]}) as server:
        run([inputs], tmp_path / "out", config(server.url, inputs, max_retries=2))
    docs = results(tmp_path / "out")
    assert attempts(server, "Alpha") == [3, 3] and attempts(server, "Bravo") == [3, 3]
    assert docs["Alpha"].status == docs["Bravo"].status == "failed" and docs["Charlie"].status == "ok"
    for error in docs["Alpha"].errors:
        assert error.stage == "engine" and "HTTP 503 (scripted 503); gave up after 3 attempts" in error.message
    assert all("connection error" in e.message and "after 3 attempts" in e.message for e in docs["Bravo"].errors)


def test_a_hanging_request_times_out_once_and_others_go_on(inputs, tmp_path):
    started = time.perf_counter()
    with FakeServer({"Alpha": ["hang"]}) as server:
        run([inputs], tmp_path / "out", config(server.url, inputs, request_timeout=0.5))
    assert time.perf_counter() - started < 20
    docs = results(tmp_path / "out")
    assert attempts(server, "Alpha") == [1, 1]  # a timeout is not re-sent
    assert docs["Alpha"].status == "failed" and docs["Bravo"].status == docs["Charlie"].status == "ok"
    assert all("no reply within the 0.5 s request timeout" in e.message for e in docs["Alpha"].errors)


def test_broken_json_fails_its_document_alone(inputs, tmp_path):
    with FakeServer({"Alpha": ["not-json"], "Bravo": ["bad-content"], "Charlie": ["length"]}) as server:
        run([inputs], tmp_path / "out", config(server.url, inputs))
    docs = results(tmp_path / "out")
    assert all(attempts(server, m) == [1, 1] for m in MARKERS)  # a bad reply is not a reason to re-send
    assert all("server reply is not a chat completion" in e.message for e in docs["Alpha"].errors)
    bravo = {(e.stage, e.kind) for e in docs["Bravo"].errors}
    assert docs["Bravo"].status == "failed" and bravo == {("parse", "invalid_reply")}
    assert {e.kind for e in docs["Charlie"].errors} == {"truncated"}
    assert "finish_reason=length" in docs["Charlie"].errors[0].message


def test_a_server_that_goes_down_fails_each_request_after_bounded_retries(inputs):
    plans = [p for p in plan_inputs([inputs], config("http://unused", inputs)) if isinstance(p, Plan)]
    with FakeServer() as server:
        engine = ServerEngine(config(server.url, inputs, max_retries=2))
    started = time.perf_counter()
    completions = engine.generate([r for p in plans for r in p.requests])
    engine.close()
    assert time.perf_counter() - started < 10 and len(completions) == 6
    assert all(c.error and "connection error" in c.error and "gave up after 3 attempts" in c.error
               for c in completions)


def test_a_server_down_at_the_start_is_an_unavailable_engine(inputs, tmp_path):
    with FakeServer() as server:
        url = server.url
    with pytest.raises(EngineError, match="cannot reach the model server"):
        run([inputs], tmp_path / "out", config(url, inputs, max_retries=1))
    cli = CliRunner().invoke(app, ["run", str(inputs), "-o", str(tmp_path / "cli"), "--base-url", url,
                                   "--max-retries", "0"])
    assert cli.exit_code == 3, cli.output


def test_concurrency_is_limited(inputs, tmp_path):
    with FakeServer(delay=0.2) as server:
        run([inputs], tmp_path / "out", config(server.url, inputs, concurrency=2))
    assert server.most_in_flight == 2


def test_the_api_key_is_sent_and_written_nowhere(inputs, tmp_path, monkeypatch, caplog, capsys):
    secret = "sk-test-5f1e2d3c4b5a"
    monkeypatch.setenv("TEAM_KEY", secret)
    caplog.set_level(logging.DEBUG)
    with FakeServer({"Alpha": [503, "ok"], "Bravo": ["not-json"]}) as server:
        run([inputs], tmp_path / "out", config(server.url, inputs, api_key_env="TEAM_KEY"))
        cli = CliRunner().invoke(app, ["run", str(inputs / "Bravo.pdf"), "-o", str(tmp_path / "cli"), "-v",
                                       "--base-url", server.url, "--api-key-env", "TEAM_KEY", "--max-retries", "0"])
    assert {r["headers"].get("Authorization") for r in server.requests} == {f"Bearer {secret}"}
    written = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
    assert written and not any(secret.encode() in data for data in written)
    assert secret not in caplog.text and secret not in "".join(capsys.readouterr())
    assert cli.exit_code == 1 and "server reply is not a chat completion" in cli.output and secret not in cli.output
    monkeypatch.delenv("TEAM_KEY")
    with pytest.raises(ConfigError, match="TEAM_KEY"):
        ServerEngine(config(server.url, inputs, api_key_env="TEAM_KEY"))
    monkeypatch.delenv("DOCPIPE_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", secret)  # the usual variables, when no --api-key-env
    with FakeServer() as server:
        ServerEngine(config(server.url, inputs)).close()
    assert server.requests[0]["headers"]["Authorization"] == f"Bearer {secret}"


def test_openai_and_vllm_bodies_ask_for_the_schema_with_thinking_off(inputs, tmp_path):
    plans = {Path(p.document.source.path).stem: p for p in plan_inputs([inputs], config("", inputs))
             if isinstance(p, Plan)}
    for kind in ("openai", "vllm"):
        with FakeServer() as server:
            run([inputs], tmp_path / kind, config(server.url, inputs, server_kind=kind))
        request = plans["Alpha"].requests[0]
        (body,) = [b for b in server.chats() if b["messages"] == [m.model_dump() for m in request.messages]]
        assert body["response_format"]["json_schema"] == {"name": f"{request.task}_reply",
                                                          "schema": request.json_schema, "strict": True}
        assert body["reasoning_effort"] == "none" and body["max_tokens"] == request.max_tokens
        assert body["model"] == MODEL and body["temperature"] == 0.7 and body["top_p"] == 0.8
        extras = {"chat_template_kwargs": {"enable_thinking": False}, "top_k": 20, "min_p": 0.0}
        assert {k: body.get(k) for k in extras} == (extras if kind == "vllm" else dict.fromkeys(extras))


def test_ollama_gets_its_native_body_with_num_ctx_sized_to_the_prompt(inputs, tmp_path):
    with FakeServer(context=8192) as server:
        run([inputs], tmp_path / "out", config(server.url + "/v1", inputs, server_kind="ollama"))
    assert server.requests[0]["path"] == "/api/show" and server.requests[0]["body"] == {"model": MODEL}
    docs = results(tmp_path / "out")
    assert all(d.status == "ok" and d.route and d.route.context_limit == 8192 for d in docs.values())
    plans = [p for p in plan_inputs([inputs], config("", inputs, server_kind="ollama")) if isinstance(p, Plan)]
    needed = {json.dumps(r.json_schema): r.prompt_tokens + r.max_tokens for p in plans for r in p.requests}
    for body in server.chats():
        assert body["think"] is False and body["stream"] is False and body["format"]["type"] == "object"
        assert needed[json.dumps(body["format"])] <= body["options"]["num_ctx"] <= 8192
        assert body["options"]["num_predict"] == 256
    assert docs["Alpha"].usage["prompt_tokens"] == 2 * USAGE["prompt_tokens"]


def test_the_servers_context_caps_the_routes(tmp_path, tokenizer):
    folder = tmp_path / "in"
    write_pdf(folder / "long.pdf", [f"Page {i} text. " + filler(400, f"s{i}") for i in range(8)])  # ~3.5k tokens
    write_pdf(folder / "Alpha.pdf", ["Alpha short agreement."])
    (tmp_path / "checklist.csv").write_text(CHECKLIST)
    with FakeServer(context=2048) as server:
        run([folder], tmp_path / "out", config(server.url, folder))
    docs = results(tmp_path / "out")
    assert docs["long"].status == "ok" and docs["long"].route and docs["long"].route.kind == "windows"
    assert docs["Alpha"].route and docs["Alpha"].route.kind == "whole"
    assert len(docs["long"].route.windows) >= 2 and docs["long"].route.context_limit == 2048
    for body in server.chats():  # counted from what went over the wire
        messages = [Message(**m) for m in body["messages"]]
        assert tokenizer.count_chat(messages) + body["max_tokens"] <= 2048


def test_a_request_over_the_servers_context_is_not_sent(inputs):
    plans = [p for p in plan_inputs([inputs], config("", inputs)) if isinstance(p, Plan)]
    request = plans[0].requests[0]
    with FakeServer(context=request.prompt_tokens + 10) as server:
        engine = ServerEngine(config(server.url, inputs))
        (completion,) = engine.generate([request])
        engine.close()
    assert completion.error and "not sent" in completion.error and not server.chats()


def test_the_model_is_found_on_the_server(inputs):
    with FakeServer() as server:
        engine = ServerEngine(config(server.url, inputs).model_copy(update={"model": None}))
        assert engine.model == MODEL and engine.context_limit() == 32768
        engine.close()
        with pytest.raises(ConfigError, match="does not serve 'other'"):
            ServerEngine(config(server.url, inputs).model_copy(update={"model": "other"}))


def test_a_server_that_does_not_say_its_context_leaves_max_context_alone(inputs):
    with FakeServer(context=None) as server:
        engine = ServerEngine(config(server.url, inputs))
        assert engine.context_limit() is None
        engine.close()


def test_cli_runs_the_server_engine(inputs, tmp_path):
    with FakeServer({"Bravo": [503]}) as server:
        ok = CliRunner().invoke(app, ["run", str(inputs / "Alpha.pdf"), "-o", str(tmp_path / "a"), "--base-url",
                                      server.url, "--model", MODEL, "--server-kind", "vllm", "--concurrency", "2",
                                      "--request-timeout", "5", "--checklist", str(inputs.parent / "checklist.csv")])
        failed = CliRunner().invoke(app, ["run", str(inputs / "Bravo.pdf"), "-o", str(tmp_path / "b"), "--engine",
                                          "server", "--base-url", server.url, "--max-retries", "0"])
    assert ok.exit_code == 0, ok.output
    assert failed.exit_code == 1 and "HTTP 503" in failed.output
    assert attempts(server, "Bravo") == [1, 1]
    bad = CliRunner().invoke(app, ["run", str(inputs), "--base-url", server.url, "--server-kind", "grpc"])
    assert bad.exit_code == 2 and "--server-kind" in bad.output


def test_api_root_and_backoff():
    assert api_root("http://h:8000", "vllm") == "http://h:8000/v1"
    assert api_root("http://h:8000/v1/", "openai") == "http://h:8000/v1"
    assert api_root("https://h/openai/v1", "openai") == "https://h/openai/v1"
    assert api_root("http://h:11434/v1", "ollama") == api_root("http://h:11434", "ollama") == "http://h:11434"
    policy = RetryPolicy(max_retries=5, backoff=1.0, backoff_max=6.0)
    for retry, step in ((0, 1.0), (1, 2.0), (2, 4.0), (5, 6.0)):
        delays = {policy.delay(retry) for _ in range(20)}
        assert all(step / 2 <= d <= step for d in delays) and len(delays) > 1  # jittered, capped
    assert policy.delay(0, retry_after=3.0) == 3.0 and policy.delay(0, retry_after=100.0) == 6.0


def test_closing_the_engine_ends_the_retry_waits(inputs):
    plans = [p for p in plan_inputs([inputs], config("", inputs)) if isinstance(p, Plan)]
    with FakeServer({"Alpha": [503]}) as server:
        engine = ServerEngine(config(server.url, inputs, backoff=30.0, backoff_max=30.0))
        threading.Timer(0.5, engine.close).start()
        started = time.perf_counter()
        completions = engine.generate(plans[0].requests)
    assert time.perf_counter() - started < 10
    assert all(c.error and "not retried: the engine was closed" in c.error for c in completions)


def test_server_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("DOCPIPE_BASE_URL", "http://10.0.0.5:8000/v1")
    monkeypatch.setenv("DOCPIPE_SERVER_KIND", "ollama")
    monkeypatch.setenv("DOCPIPE_CONCURRENCY", "3")
    server = RunConfig(engine="server").server
    assert (server.base_url, server.server_kind, server.concurrency) == ("http://10.0.0.5:8000/v1", "ollama", 3)
