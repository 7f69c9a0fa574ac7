"""The result key (pipeline.store.key): everything that changes a result is in it, nothing else is."""

import json
import shutil
from importlib import resources

import pytest

from pipeline.config import EngineSettings, RunConfig, ServerSettings
from pipeline.eval.evaluate import run_key
from pipeline.models import ChecklistItem
from pipeline.tasks.templates import prompts_dir
from pipeline.store import key as key_module
from pipeline.store.key import key_parts, result_key
from pipeline.tasks.checklist import load_checklist

CUAD = load_checklist()


def key(config: RunConfig, checklist=CUAD, task_hashes=None) -> str:
    return result_key(key_parts(config, checklist, task_hashes))


BASE = key(RunConfig())


@pytest.mark.parametrize("change", [
    {"model": "Qwen/Qwen3-8B"}, {"engine": "vllm"}, {"max_context": 32_768}, {"thinking": True},
    {"tasks": ("summary",)}, {"summary_points": 5}, {"clauses_reserve": 1000}, {"window_overlap": 0.2},
    {"max_pages": 10}, {"max_page_chars": 1000}, {"max_decompressed_mb": 1}, {"ingest_timeout": 5.0},
    {"follow_symlinks": True}, {"pdf_backend": "pypdfium2"}, {"save_reasoning": True}, {"max_document_mb": 10},
])
def test_what_shapes_results_changes_the_key(change):
    assert key(RunConfig(**change)) != BASE


def test_engine_settings_count_for_model_engines_only():
    tuned = EngineSettings(gpu_memory_utilization=0.5)
    vllm = key(RunConfig(engine="vllm"))
    assert key(RunConfig(engine="vllm", engine_settings=tuned)) != vllm
    assert key(RunConfig(engine_settings=tuned)) == BASE  # the extractive engine reads none


def test_a_setting_added_later_keeps_existing_keys_until_it_is_set():
    unset = key_parts(RunConfig(engine="vllm"), CUAD)
    assert "max_num_batched_tokens" not in unset["config"]["engine_settings"]  # stores made before it stay valid
    tuned = EngineSettings(max_num_batched_tokens=32_768)
    assert key(RunConfig(engine="vllm", engine_settings=tuned)) != key(RunConfig(engine="vllm"))


def test_checklist_contents_count_not_its_file(tmp_path):
    assert key(RunConfig(), CUAD[:-1]) != BASE
    assert key(RunConfig(checklist=tmp_path / "same.csv")) == BASE
    summary_only = RunConfig(tasks=("summary",))
    assert key(summary_only, ()) == key(summary_only, (ChecklistItem(name="x"),))


def test_options_that_cannot_change_results_keep_the_key():
    same = RunConfig(password="pw", batch_documents=1, redo="all", jobs=7, reconfigure=True)
    assert key(same) == BASE


def test_a_changed_prompt_template_changes_the_key(tmp_path, monkeypatch):
    copy = tmp_path / "prompts"
    shutil.copytree(prompts_dir(), copy)
    monkeypatch.setenv("DOCPIPE_PROMPTS", str(copy))
    assert key(RunConfig()) == BASE
    (copy / "document.j2").write_text((copy / "document.j2").read_text() + "\nBe precise.\n")
    assert key(RunConfig()) != BASE


def test_clause_patterns_sampling_and_version_change_the_key(monkeypatch):
    vllm = key(RunConfig(engine="vllm"))
    patterns = json.loads(resources.files("pipeline.engines").joinpath("clause_patterns.json").read_bytes())
    assert key_parts(RunConfig(), CUAD)["clause_patterns"]  # the extractive engine's clauses depend on them
    monkeypatch.setattr(key_module, "_patterns_hash", lambda: "another pattern file")
    assert key(RunConfig()) != BASE and patterns["categories"]
    assert key(RunConfig(engine="vllm")) == vllm  # a model engine does not read the pattern file
    monkeypatch.setattr(key_module, "__version__", "99.0")
    assert key(RunConfig(engine="vllm")) != vllm
    monkeypatch.undo()
    from pipeline.engines import vllm_specs

    monkeypatch.setitem(vllm_specs.SAMPLING, False, {**vllm_specs.SAMPLING[False], "temperature": 0.1})
    assert key(RunConfig(engine="vllm")) != vllm and key(RunConfig()) == BASE  # extractive: no sampling


def test_task_definitions_are_added_by_their_hashes():
    assert key(RunConfig(), task_hashes={"summary": "a", "clauses": "b"}) != BASE
    assert key(RunConfig(), task_hashes={"clauses": "b", "summary": "a"}) == key(
        RunConfig(), task_hashes={"summary": "a", "clauses": "b"})
    assert key(RunConfig(), task_hashes={"summary": "a2", "clauses": "b"}) != key(
        RunConfig(), task_hashes={"summary": "a", "clauses": "b"})


def test_a_local_model_counts_by_its_files_not_its_path(tmp_path):
    one, two = tmp_path / "one" / "qwen", tmp_path / "two" / "qwen"
    for folder in (one, two):
        folder.mkdir(parents=True)
        (folder / "config.json").write_text('{"hidden_size": 128}')
        (folder / "model.safetensors").write_bytes(b"w" * 100)
    assert key(RunConfig(engine="vllm", model=str(one))) == key(RunConfig(engine="vllm", model=str(two)))
    (two / "config.json").write_text('{"hidden_size": 256}')  # another model swapped in at the same path
    assert key(RunConfig(engine="vllm", model=str(one))) != key(RunConfig(engine="vllm", model=str(two)))
    (two / "config.json").write_text('{"hidden_size": 128}')
    (two / "model.safetensors").write_bytes(b"w" * 101)
    assert key(RunConfig(engine="vllm", model=str(one))) != key(RunConfig(engine="vllm", model=str(two)))


def test_eval_uses_the_run_stores_key():
    config = RunConfig(tasks=("clauses",), max_context=65_536)
    assert run_key(config) == key(config)


def test_how_work_is_spread_or_sent_keeps_the_key():
    vllm = key(RunConfig(engine="vllm"))
    assert key(RunConfig(engine="vllm", engine_settings=EngineSettings(data_parallel_size=4))) == vllm
    server = RunConfig(engine="server", server=ServerSettings(base_url="http://127.0.0.1:8000/v1"))
    base = key(server)
    assert key(server.model_copy(update={"server": server.server.model_copy(
        update={"concurrency": 32, "max_retries": 0})})) == base
    assert key(server.model_copy(update={"server": ServerSettings(base_url="http://127.0.0.1:9/v1")})) != base
    assert key(RunConfig(server=ServerSettings(base_url="http://x/v1"))) == BASE  # not read


def test_each_result_json_records_the_key_the_store_and_eval_use(tmp_path):
    from pipeline.run.core import run
    from pipeline.store.runstore import RunStore
    from tests.conftest import SAMPLES

    config = RunConfig(tasks=("clauses",))
    report = run([SAMPLES / "cybergy-affiliate-agreement.pdf"], tmp_path / "out", config)
    doc = json.loads((tmp_path / "out" / report.documents[0].doc_id / "result.json").read_text())
    with RunStore(tmp_path / "out", create=False) as store:
        (stored,) = {row[0] for row in store.db.execute("SELECT config_key FROM results")}
    assert doc["result_key"] == stored == key(config) == run_key(config)


def test_a_changed_task_definition_changes_the_key_but_not_its_path(tmp_path, monkeypatch):
    """A task counts by its definition, never by its path."""
    copy = tmp_path / "prompts"
    shutil.copytree(prompts_dir(), copy)
    monkeypatch.setenv("DOCPIPE_PROMPTS", str(copy))
    base = result_key(key_parts(RunConfig(), ()))
    task = copy / "tasks" / "clauses.toml"
    task.write_text(task.read_text().replace("reserve = 4096", "reserve = 4000"))
    assert result_key(key_parts(RunConfig(), ())) != base
    other, same = tmp_path / "elsewhere" / "terms.toml", tmp_path / "again" / "terms.toml"
    for path in (other, same):
        path.parent.mkdir()
        shutil.copy(copy / "tasks" / "contract_terms.toml", path)
    assert result_key(key_parts(RunConfig(tasks=(str(other),)), ())) == result_key(key_parts(RunConfig(tasks=(str(same),)), ()))
    same.write_text(same.read_text().replace("reserve = 2048", "reserve = 1024"))
    assert result_key(key_parts(RunConfig(tasks=(str(other),)), ())) != result_key(key_parts(RunConfig(tasks=(str(same),)), ()))
