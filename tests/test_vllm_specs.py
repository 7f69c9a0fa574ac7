"""Engine configurations per request (no vllm needed): native vs YaRN groups, factors, limits, overrides."""

import json

import pytest

from pipeline.config import EngineSettings, RunConfig
from pipeline.engines.vllm_specs import (
    SAMPLING, EngineSpec, Limits, group_requests, model_rope_theta, rope_overrides, yarn_spec,
)
from pipeline.models import Message, Request


def _request(name: str, prompt: int, reply: int = 2048) -> Request:
    return Request(request_id=name, doc_id=name.split(":")[0], task="summary", route="whole",
                   messages=(Message(role="user", content=name),), json_schema={}, max_tokens=reply,
                   prompt_tokens=prompt)


def test_requests_fitting_32k_stay_native_and_keep_their_order():
    batch = [_request("a:s", 30_000), _request("b:s", 30_500), _request("a:c", 29_000), _request("c:s", 40_000)]
    groups, rejected = group_requests(batch, Limits.of(RunConfig()))
    assert not rejected
    assert groups[0].spec == EngineSpec("native", 32_768) and groups[0].indices == (0, 1, 2)
    assert groups[1].spec.rope == "yarn" and groups[1].indices == (3,)
    assert group_requests(batch[:2], Limits.of(RunConfig()))[0][0].indices == (0, 1)  # no empty YaRN group


def test_a_document_with_one_task_over_32k_runs_wholly_on_yarn():
    batch = [_request("a:s", 30_000), _request("a:c", 31_000), _request("b:s", 1_000)]  # a:c needs 33,048
    groups, _ = group_requests(batch, Limits.of(RunConfig()))
    assert [(g.spec.rope, g.indices) for g in groups] == [("native", (2,)), ("yarn", (0, 1))]


def test_yarn_takes_the_smallest_factor_and_the_context_the_group_needs():
    limits = Limits.of(RunConfig())
    assert yarn_spec([_request("a", 40_000), _request("b", 50_000)], limits) == EngineSpec("yarn", 54_096, 2.0)
    # 2x the reply for a retry, but never beyond what factor 2 gives
    assert yarn_spec([_request("a", 62_000)], limits) == EngineSpec("yarn", 65_536, 2.0)
    assert yarn_spec([_request("a", 64_000)], limits) == EngineSpec("yarn", 68_096, 4.0)
    assert yarn_spec([_request("a", 128_000)], limits) == EngineSpec("yarn", 131_072, 4.0)
    no_retry = Limits.of(RunConfig(engine_settings=EngineSettings(retries=0)))
    assert yarn_spec([_request("a", 40_000)], no_retry) == EngineSpec("yarn", 42_048, 2.0)


def test_a_request_over_every_limit_is_rejected_not_grouped():
    batch = [_request("a", 1_000), _request("b", 130_000), _request("c", 50_000)]
    groups, rejected = group_requests(batch, Limits.of(RunConfig()))
    assert list(rejected) == [1] and "not submitted" in rejected[1]
    assert [g.indices for g in groups] == [(0,), (2,)]
    groups, rejected = group_requests(batch, Limits.of(RunConfig(max_context=45_000)))
    assert sorted(rejected) == [1, 2] and [g.indices for g in groups] == [(0,)]


def test_a_max_context_beyond_yarn_is_a_config_error_before_vllm_is_needed():
    from pipeline.engines.vllm import VLLMEngine
    from pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match="over what YaRN gives"):
        VLLMEngine(RunConfig(engine="vllm", model="Qwen/Qwen3-8B", max_context=200_000))
    with pytest.raises(ConfigError, match="needs --model"):
        VLLMEngine(RunConfig(engine="vllm"))


def test_a_loaded_engine_serves_smaller_needs_of_the_same_rope_only():
    yarn = EngineSpec("yarn", 100_000, 4.0)
    assert yarn.serves(EngineSpec("yarn", 80_000, 4.0))
    assert not yarn.serves(EngineSpec("yarn", 120_000, 4.0))
    assert not yarn.serves(EngineSpec("yarn", 60_000, 2.0))
    assert not yarn.serves(EngineSpec("native", 32_768))


def test_rope_overrides_keep_theta_and_raise_max_position_embeddings():
    assert rope_overrides(EngineSpec("native", 32_768), 32_768, 1e6) == {}
    assert rope_overrides(EngineSpec("yarn", 131_072, 4.0), 32_768, 1e6) == {
        "rope_parameters": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32_768,
                            "rope_theta": 1e6},
        "max_position_embeddings": 131_072,
    }


def test_rope_theta_is_read_from_the_model_config(tmp_path):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "config.json").write_text(json.dumps({"rope_theta": 5e5}))
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "config.json").write_text(json.dumps({"rope_parameters": {"rope_theta": 2e6}}))
    assert model_rope_theta(str(tmp_path / "old")) == 5e5
    assert model_rope_theta(str(tmp_path / "new")) == 2e6
    assert model_rope_theta(str(tmp_path / "absent")) == 1e6  # Qwen3's, with a warning


def test_qwen_sampling_per_mode():
    assert SAMPLING[False] == {"temperature": 0.7, "top_p": 0.8, "top_k": 20, "min_p": 0.0}
    assert SAMPLING[True] == {"temperature": 0.6, "top_p": 0.95, "top_k": 20, "min_p": 0.0}
