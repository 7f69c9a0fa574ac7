"""The example tasks (contract_terms, paper_findings) end to end through the engines that run any task:
the server engine against a local HTTP server (tests/fake_server.py, answering from each request's JSON
schema), and the real vLLM engine on the CPU with a tiny random Qwen3 (`-m vllm`). Replies must be valid
for their task's schema; items land in result.json under the task's name, each with its citation, and in
OUT/<task>.csv and the review report."""

from __future__ import annotations

import csv
import io
import json
import os
import warnings
from pathlib import Path

import pytest

from pipeline import run_folder
from pipeline.config import EngineSettings, ServerSettings
from pipeline.models import DocResult
from pipeline.tasks.registry import load_task
from pipeline.tasks.schema import reply_model
from tests.conftest import filler, write_pdf
from tests.fake_server import MODEL, FakeServer

TASKS = ("contract_terms", "paper_findings")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("in")
    for marker in ("Alpha", "Bravo"):
        write_pdf(folder / f"{marker}.pdf", [f"{marker} agreement. " + filler(80, marker), filler(50, "p2")])
    return folder


def _check_stored(out: Path, results: list[DocResult], require_quotes_found: bool) -> None:
    """Every document holds both tasks' items, every stated value its citation; CSVs and report agree."""
    assert results and all(r.status == "ok" for r in results), [r.errors for r in results]
    for result in results:
        stored = DocResult.model_validate_json((out / result.doc_id / "result.json").read_text())
        assert stored == result and set(stored.extractions) == set(TASKS)
        (terms,) = stored.extractions["contract_terms"]  # one item per document
        assert set(terms.values) == {f.name for f in load_task("contract_terms").value_fields}
        for name, value in terms.values.items():
            assert (value is None) == (name not in terms.citations)
        for item in stored.extractions["paper_findings"]:
            assert item.citation is not None and item.values["kind"] in (
                "research_question", "method", "data_set", "result", "limitation")
        if require_quotes_found:
            cited = list(terms.citations.values())
            cited += [i.citation for i in stored.extractions["paper_findings"] if i.citation]
            assert cited and all(c.status == "verified" for c in cited)
        report = (out / result.doc_id / "report.html").read_text()
        assert 'id="task-contract_terms"' in report and 'id="task-paper_findings"' in report
    for task in TASKS:
        rows = list(csv.DictReader(io.StringIO((out / f"{task}.csv").read_text())))
        items = sum(len(r.extractions[task]) for r in results)
        assert len(rows) == items and {row["doc_id"] for row in rows} <= {r.doc_id for r in results}
    assert 'id="fields-contract_terms"' in (out / "index.html").read_text()  # the documents x fields table
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(lines) == len(results) and all(set(line["extractions"]) == set(TASKS) for line in lines)


def test_example_tasks_through_the_server_engine(inputs: Path, tmp_path: Path) -> None:
    with FakeServer(script={"Alpha": ["ok"], "Bravo": ["ok"]}) as server:  # replies quote these words
        settings = ServerSettings(base_url=server.url + "/v1", max_retries=0, request_timeout=10.0)
        results = run_folder(inputs, tmp_path, tasks=TASKS, engine="server", model=MODEL, server=settings)
    _check_stored(tmp_path, list(results), require_quotes_found=True)
    bodies = server.chats()
    assert len(bodies) == 2 * len(TASKS)
    for body in bodies:
        schema = body["response_format"]["json_schema"]["schema"]
        name = "contract_terms" if "parties" in schema["properties"] else "paper_findings"
        assert body["response_format"]["json_schema"]["name"] == f"{name}_reply"
        if name == "paper_findings":  # bounded: item count, quote length, page range
            item = schema["$defs"]["PaperFindingsItem"]["properties"]
            assert schema["properties"]["items"]["maxItems"] == 25
            assert item["quote"]["maxLength"] == 800 and item["page_number"]["maximum"] == 2


vllm_only = pytest.mark.skipif(
    os.environ.get("DOCPIPE_REQUIRE_VLLM") != "1" and not __import__("importlib").util.find_spec("vllm"),
    reason="vllm is not installed")
THIRD_PARTY = "(torch|vllm|transformers|xgrammar|triton|multiprocessing)"


def _tight(folder: Path) -> list[Path]:
    """The example tasks as they ship, with small schema bounds: a random model writes every string to its
    longest and every list to its most items, and the CPU should not spend minutes on that noise."""
    tight = []
    for name in TASKS:
        source = Path(load_task(name).source).read_text()
        head, sep, fields = source.partition("[[fields]]")
        bounds = "max_items = 2\nmax_quote_chars = 40\nmax_value_chars = 12\n"
        lines = [line for line in head.splitlines() if not line.startswith(("max_items", "max_quote", "max_value"))]
        path = folder / f"{name}.toml"
        path.write_text(bounds + "\n".join(lines) + "\n" + sep + fields)
        assert load_task(path).fields == load_task(name).fields  # the same task, only its bounds differ
        tight.append(path)
    return tight


@vllm_only
@pytest.mark.vllm
@pytest.mark.slow
@pytest.mark.filterwarnings(f"ignore::DeprecationWarning:{THIRD_PARTY}", f"ignore::FutureWarning:{THIRD_PARTY}",
                            f"ignore::UserWarning:{THIRD_PARTY}",
                            "ignore:Exception ignored in. <function Context.__del__:pytest.PytestUnraisableExceptionWarning")
def test_example_tasks_on_the_real_vllm_engine(inputs: Path, tmp_path: Path) -> None:
    from pipeline.engines.vllm import VLLMEngine
    from tests.tiny_qwen3 import build

    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")  # GiB; vLLM-CPU's default takes 92% of memory
    model = build(tmp_path / "tiny-qwen3")
    from pipeline.api import make_config

    config = make_config(_tight(tmp_path), engine="vllm", model=str(model), max_context=8192,
                         engine_settings=EngineSettings(enforce_eager=True, seed=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        engine = VLLMEngine(config)
    try:
        # status ok below means every reply finished and parsed against its task's model (else: an error)
        results = run_folder(inputs, tmp_path / "out", config=config, engine=engine)
    finally:
        engine.close()
    assert all(r.status == "ok" for r in results), [(r.status, r.errors) for r in results]
    assert all(r.usage.get("finish_stop") == r.usage["requests"] == len(TASKS) for r in results)
    _check_stored(tmp_path / "out", list(results), require_quotes_found=False)
