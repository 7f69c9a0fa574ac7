import shutil

import pytest

from pipeline.tasks.checklist import load_checklist
from pipeline.config import EngineSettings, RunConfig, ServerSettings
from pipeline.store.key import config_key
from pipeline.models import ChecklistItem
from pipeline.plan.prompts import prompts_dir

CUAD = load_checklist()
BASE = config_key(RunConfig(), CUAD)


@pytest.mark.parametrize("change", [
    {"model": "Qwen/Qwen3-8B"}, {"engine": "vllm"}, {"max_context": 32_768}, {"thinking": True},
    {"tasks": ("summary",)}, {"summary_points": 5}, {"clauses_reserve": 1000}, {"window_overlap": 0.2},
    {"max_pages": 10}, {"max_page_chars": 1000}, {"max_decompressed_mb": 1}, {"ingest_timeout": 5.0},
    {"follow_symlinks": True}, {"pdf_backend": "pypdfium2"},
])
def test_what_shapes_results_changes_the_key(change):
    assert config_key(RunConfig(**change), CUAD) != BASE


def test_the_default_pdf_backend_keeps_the_keys_made_before_the_option(monkeypatch):
    dump = RunConfig.model_dump
    monkeypatch.setattr(RunConfig, "model_dump",  # a RunConfig as it was: no pdf_backend field
                        lambda self, **kw: {k: v for k, v in dump(self, **kw).items() if k != "pdf_backend"})
    assert config_key(RunConfig(), CUAD) == BASE


def test_engine_settings_count_for_model_engines_only():
    tuned = EngineSettings(gpu_memory_utilization=0.5)
    vllm = config_key(RunConfig(engine="vllm"), CUAD)
    assert config_key(RunConfig(engine="vllm", engine_settings=tuned), CUAD) != vllm
    assert config_key(RunConfig(engine_settings=tuned), CUAD) == BASE  # the extractive engine reads none


def test_checklist_contents_count_not_its_file(tmp_path):
    assert config_key(RunConfig(), CUAD[:-1]) != BASE
    assert config_key(RunConfig(checklist=tmp_path / "same.csv"), CUAD) == BASE
    summary_only = RunConfig(tasks=("summary",))
    assert config_key(summary_only, ()) == config_key(summary_only, (ChecklistItem(name="x"),))


def test_options_that_cannot_change_results_keep_the_key():
    assert config_key(RunConfig(password="pw", batch_documents=1, redo="all"), CUAD) == BASE


def test_a_changed_prompt_template_changes_the_key(tmp_path, monkeypatch):
    copy = tmp_path / "prompts"
    shutil.copytree(prompts_dir(), copy)
    monkeypatch.setenv("DOCPIPE_PROMPTS", str(copy))
    assert config_key(RunConfig(), CUAD) == BASE
    (copy / "document.j2").write_text((copy / "document.j2").read_text() + "\nBe precise.\n")
    assert config_key(RunConfig(), CUAD) != BASE


def test_a_changed_task_definition_changes_the_key(tmp_path, monkeypatch):
    copy = tmp_path / "prompts"
    shutil.copytree(prompts_dir(), copy)
    monkeypatch.setenv("DOCPIPE_PROMPTS", str(copy))
    assert config_key(RunConfig(), CUAD) == BASE
    task = copy / "tasks" / "clauses.toml"
    task.write_text(task.read_text().replace("reserve = 4096", "reserve = 4000"))
    assert config_key(RunConfig(), CUAD) != BASE
    # a task from a file: its contents count, not its path
    other = tmp_path / "elsewhere" / "terms.toml"
    other.parent.mkdir()
    shutil.copy(copy / "tasks" / "contract_terms.toml", other)
    same = tmp_path / "again" / "terms.toml"
    same.parent.mkdir()
    shutil.copy(other, same)
    assert config_key(RunConfig(tasks=(str(other),)), ()) == config_key(RunConfig(tasks=(str(same),)), ())
    same.write_text(same.read_text().replace('reserve = 2048', 'reserve = 1024'))
    assert config_key(RunConfig(tasks=(str(other),)), ()) != config_key(RunConfig(tasks=(str(same),)), ())


def test_how_work_is_spread_or_sent_keeps_the_key():
    vllm = config_key(RunConfig(engine="vllm"), CUAD)
    assert config_key(RunConfig(engine="vllm", engine_settings=EngineSettings(data_parallel_size=4)), CUAD) == vllm
    server = RunConfig(engine="server", server=ServerSettings(base_url="http://127.0.0.1:8000/v1"))
    key = config_key(server, CUAD)
    assert config_key(server.model_copy(update={"server": server.server.model_copy(
        update={"concurrency": 32, "max_retries": 0})}), CUAD) == key
    assert config_key(server.model_copy(update={"server": ServerSettings(base_url="http://127.0.0.1:9/v1")}),
                      CUAD) != key  # another server may serve another model
    assert config_key(RunConfig(server=ServerSettings(base_url="http://x/v1")), CUAD) == BASE  # not read
