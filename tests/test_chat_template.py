"""The chat template rendered without transformers equals transformers' own `apply_chat_template`."""

import pytest
from transformers import AutoTokenizer

from pipeline.plan.chat_template import ChatTemplate
from pipeline.tasks.checklist import load_checklist
from pipeline.ingest.read import ingest
from pipeline.plan.prompts import build_messages
from pipeline.plan.tokens import Tokenizer, bundled_tokenizer_dir
from tests.conftest import SAMPLES

ODD = [
    [{"role": "user", "content": "hi"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "{{ x }} {% if %} <|im_end|> é\n\n"}],
    [{"role": "system", "content": ""}, {"role": "user", "content": "  leading and trailing  \n"}],
    [{"role": "user", "content": "a"}, {"role": "assistant", "content": "<think>\nhmm\n</think>\n\nb"},
     {"role": "user", "content": "c"}],
]


@pytest.fixture(scope="module")
def both():
    folder = bundled_tokenizer_dir()
    template = ChatTemplate.load(folder)
    assert template is not None
    return template, AutoTokenizer.from_pretrained(str(folder))


def _hf(hf, messages, thinking):
    return hf.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, enable_thinking=thinking)


@pytest.mark.parametrize("thinking", [False, True])
def test_same_text_as_transformers_on_docpipe_prompts(both, thinking):
    template, hf = both
    doc = ingest(sorted(SAMPLES.glob("*.pdf"))[0])
    for task in ("summary", "clauses"):
        messages = [m.model_dump() for m in build_messages(task, doc.pages, len(doc.pages), load_checklist(None))]
        assert template.render(messages, enable_thinking=thinking) == _hf(hf, messages, thinking)


@pytest.mark.parametrize("thinking", [False, True])
@pytest.mark.parametrize("messages", ODD)
def test_same_text_as_transformers_on_odd_conversations(both, messages, thinking):
    template, hf = both
    assert template.render(messages, enable_thinking=thinking) == _hf(hf, messages, thinking)


def test_the_tokenizer_then_never_loads_transformers(tokenizer):
    assert isinstance(tokenizer, Tokenizer) and tokenizer._hf is None and tokenizer.backend == "tiktoken"


def test_a_folder_without_a_template_string_is_left_to_transformers(tmp_path):
    (tmp_path / "tokenizer_config.json").write_text('{"chat_template": [{"name": "default", "template": "x"}]}')
    assert ChatTemplate.load(tmp_path) is None
    assert ChatTemplate.load(tmp_path / "missing") is None
