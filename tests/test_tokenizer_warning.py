"""The "incorrect regex pattern" warning on vLLM engine starts (issue 22): its cause, and proof it is harmless.

transformers' `_patch_mistral_regex` reads `config.json` beside a local tokenizer. When the file has no
`transformers_version` (as a trimmed config written by hand), it cannot rule out an old Mistral checkpoint and
warns — without changing the tokenizer. Real Qwen3 checkpoints record the version, so they load silently.
"""

from __future__ import annotations

import json
import logging
import shutil

import pytest

from pipeline.plan.tokens import bundled_tokenizer_dir

transformers = pytest.importorskip("transformers")
try:
    from transformers.tokenization_utils_tokenizers import TokenizersBackend as _Backend
except ImportError:  # transformers 4.x: another module layout, and no such heuristic before 4.57
    _Backend = None
pytestmark = pytest.mark.skipif(not hasattr(_Backend, "_patch_mistral_regex"),
                                reason="this transformers has no Mistral-regex heuristic (so no warning to explain)")

QWEN3_CONFIG = {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "vocab_size": 151936,
                "hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1}
TEXT = "Section 12.3: Licensee shall pay 15% of NET SALES within 60 days — “Delaware”.\n\n  x\ty"


def _folder(tmp_path, name, config):
    folder = tmp_path / name
    shutil.copytree(bundled_tokenizer_dir(), folder)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _load(folder, caplog):
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    warned = any("incorrect regex pattern" in r.getMessage() for r in caplog.records)
    return tokenizer, warned


def test_a_config_without_transformers_version_warns_and_tokenizes_identically(tmp_path, caplog):
    bare, bare_warned = _load(_folder(tmp_path, "bare", QWEN3_CONFIG), caplog)
    real, real_warned = _load(_folder(tmp_path, "real", {**QWEN3_CONFIG, "transformers_version": "4.51.0"}), caplog)
    assert not real_warned  # a config as real checkpoints write it never warns
    # The bare config warns where transformers reads a missing version as "maybe an old Mistral" (4.57 to at
    # least 5.19: the cause, nothing else differs); later releases (5.24) first ask the model type and stay
    # silent for Qwen3. Either way no patch is applied and the ids are the same:
    assert bare_warned or _model_type_checked_first()
    assert not getattr(bare, "fix_mistral_regex", False)  # the warning applied no patch
    assert bare(TEXT)["input_ids"] == real(TEXT)["input_ids"]


def _model_type_checked_first() -> bool:
    """Whether this transformers skips the Mistral heuristic for a local non-Mistral model type even without
    `transformers_version` (then the bare config cannot warn)."""
    import inspect

    source = inspect.getsource(_Backend._patch_mistral_regex)
    return "not transformers_version or" in source and "transformers_model_type" in source
