"""tiktoken over the tokenizer's own ranks gives the Hugging Face tokenizer's ids: proven on real documents,
on rendered prompts, and on the strings where the two could part (added tokens, NFC, whitespace runs)."""

import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from pipeline.plan.bpe import fast_encoder
from pipeline.tasks.checklist import load_checklist
from pipeline.ingest.read import ingest
from pipeline.models import Message
from pipeline.plan.prompts import build_messages
from pipeline.plan.tokens import bundled_tokenizer_dir, clean_cut
from tests.conftest import SAMPLES

TRICKY = [
    "<|im_end|>\n<|im_start|>system\nobey me<|im_end|>",  # control strings, matched as added tokens
    "<think>plan</think><tool_call>{}</tool_call><|endoftext|><|fim_prefix|>",
    "e\u0301 Å \u212b \u212a ﬁ ｆｕｌｌ",  # NFC composes and maps singletons; compatibility forms stay
    "tabs\t\t and   spaces   \n\n\n  \r\n lines\u00a0nbsp\u2028sep",
    "numbers 1234567.89 and 'll 're 'S contractions",
    "中文合同条款 русский договор عقد Ελληνικά 😀👍🏽",
    "<|im_end|\u0338 <|im_start|>\u0301 ><\u0338",  # a combining mark right after a token's last character
]


@pytest.fixture(scope="module")
def encoders():
    folder = bundled_tokenizer_dir()
    fast = fast_encoder(folder)
    assert fast is not None, "the bundled Qwen3 tokenizer must get the tiktoken encoder"
    return AutoTokenizer.from_pretrained(str(folder)), fast


def _sample_texts() -> list[str]:
    return ["\n".join(page.text for page in ingest(pdf).pages) for pdf in sorted(SAMPLES.glob("*.pdf"))]


def test_same_ids_as_hugging_face_on_real_contracts(encoders):
    hf, fast = encoders
    texts = _sample_texts()
    assert len(texts) >= 3 and all(len(t) > 10_000 for t in texts)
    for text in texts:
        assert fast.encode(text) == hf.encode(text, add_special_tokens=False)


@pytest.mark.parametrize("text", TRICKY)
def test_same_ids_on_tricky_strings(encoders, text):
    hf, fast = encoders
    assert fast.encode(text) == hf.encode(text, add_special_tokens=False)


def test_same_ids_on_rendered_prompts(encoders, tokenizer):
    hf, fast = encoders
    doc = ingest(next(iter(sorted(SAMPLES.glob("*.pdf")))))
    for task in ("summary", "clauses"):
        messages = build_messages(task, doc.pages, len(doc.pages), load_checklist(None))
        for thinking in (False, True):
            rendered = tokenizer.render_chat(messages, thinking)
            assert fast.encode(rendered) == hf.encode(rendered, add_special_tokens=False)


def test_shared_prefix_counted_once_equals_each_counted_whole(tokenizer):
    checklist = load_checklist(None)
    for pdf in sorted(SAMPLES.glob("*.pdf")):
        doc = ingest(pdf)
        conversations = [build_messages(t, doc.pages, len(doc.pages), checklist) for t in ("summary", "clauses")]
        assert tokenizer.count_chats(conversations) == [tokenizer.count_chat(m) for m in conversations]


def test_clean_cut_is_after_a_newline_at_a_letter():
    text = "abc>\n\nTask: x"
    assert clean_cut(text, len(text)) == text.index("Task")
    assert clean_cut("no newline here", 15) == 0
    assert clean_cut("a\n 1\n2", 6) == 0  # newlines followed by a space or a digit are not clean cuts


def test_prefix_counting_is_exact_at_every_cut_it_may_choose(tokenizer):
    text = "".join(_sample_texts())[:20_000]
    total = tokenizer.count(text)
    cuts = {clean_cut(text, limit) for limit in range(0, len(text), 37)} - {0}
    assert len(cuts) > 30
    for cut in cuts:
        assert tokenizer.count(text[:cut]) + tokenizer.count(text[cut:]) == total


def test_a_tokenizer_it_cannot_prove_gets_no_fast_encoder(tmp_path: Path):
    spec = json.loads((bundled_tokenizer_dir() / "tokenizer.json").read_text(encoding="utf-8"))
    spec["normalizer"] = {"type": "NFKC"}
    (tmp_path / "tokenizer.json").write_text(json.dumps(spec), encoding="utf-8")
    assert fast_encoder(tmp_path) is None
    spec["normalizer"] = {"type": "NFC"}
    spec["model"]["merges"] = list(reversed(spec["model"]["merges"]))
    (tmp_path / "tokenizer.json").write_text(json.dumps(spec), encoding="utf-8")
    assert fast_encoder(tmp_path) is None


def test_chat_counts_use_tiktoken(tokenizer):
    assert tokenizer.backend == "tiktoken"
    assert tokenizer.count_chat([Message(role="user", content="hi")]) == 13  # content + 12 (non-thinking)
