"""Engine settings: env < --config file (TOML or JSON) < flags; bad settings and a missing vllm exit clearly."""

import sys

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.config import EngineSettings
from pipeline.errors import ConfigError
from pipeline.settings import engine_settings
from tests.conftest import SAMPLES


def test_layers_env_then_file_then_flags(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCPIPE_DTYPE", "float16")
    monkeypatch.setenv("DOCPIPE_MAX_NUM_SEQS", "64")
    monkeypatch.setenv("DOCPIPE_MAX_NUM_BATCHED_TOKENS", "32768")
    toml = tmp_path / "engine.toml"
    toml.write_text('dtype = "bfloat16"\nquantization = "fp8"\ngpu_memory_utilization = 0.8\n')
    settings = engine_settings(toml, quantization=None, kv_cache_dtype="fp8")
    assert (settings.dtype, settings.quantization, settings.kv_cache_dtype) == ("bfloat16", "fp8", "fp8")
    assert settings.max_num_seqs == 64 and settings.gpu_memory_utilization == 0.8
    assert settings.max_num_batched_tokens == 32768
    assert engine_settings(None, max_num_batched_tokens=8192).max_num_batched_tokens == 8192  # the flag wins
    assert engine_settings(None) == EngineSettings()
    json_file = tmp_path / "engine.json"
    json_file.write_text('{"tensor_parallel_size": 2, "enforce_eager": true}')
    assert engine_settings(json_file).tensor_parallel_size == 2


def test_bad_settings_are_config_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('dtpye = "bfloat16"\n')
    with pytest.raises(ConfigError, match="unknown setting"):
        engine_settings(bad)
    with pytest.raises(ConfigError, match="gpu_memory_utilization"):
        engine_settings(None, gpu_memory_utilization=1.5)
    result = CliRunner().invoke(app, ["run", str(SAMPLES), "-o", str(tmp_path / "o"), "--config", str(bad)])
    assert result.exit_code == 2 and "dtpye" in result.output


def test_vllm_engine_without_vllm_exits_3_with_the_install_hint(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # as if not installed, also where it is
    result = CliRunner().invoke(app, ["run", str(SAMPLES), "-o", str(tmp_path / "o"), "--engine", "vllm",
                                      "--model", "Qwen/Qwen3-8B"])
    assert result.exit_code == 3
    assert "pip install 'vllm>=0.24'" in result.output and not (tmp_path / "o").exists()
