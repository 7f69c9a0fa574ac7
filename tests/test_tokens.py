import json

from tokenizers import Tokenizer as RawTokenizer
from transformers import AutoTokenizer
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.models import Message
from pipeline.plan.tokens import bundled_tokenizer_dir, tokenizer_dir
from tests.conftest import SAMPLES


def test_bundled_tokenizer_is_qwen3(tokenizer):
    ids = tokenizer.encode_chat([Message(role="user", content="hello")])
    assert ids[0] == 151644  # <|im_start|>
    assert 151667 in ids and 151668 in ids  # the empty <think></think> of non-thinking mode


def test_count_chat_equals_an_independent_tokenizer(tokenizer):
    messages = [Message(role="system", content="Be brief."), Message(role="user", content="Café — “quotes”\t\nx" * 50)]
    rendered = tokenizer.render_chat(messages)
    raw = RawTokenizer.from_file(str(bundled_tokenizer_dir() / "tokenizer.json"))
    assert tokenizer.count_chat(messages) == len(raw.encode(rendered, add_special_tokens=False).ids)


def test_model_folder_tokenizer_is_preferred(tmp_path):
    (tmp_path / "tokenizer_config.json").write_text("{}")
    assert tokenizer_dir(str(tmp_path)) == tmp_path
    assert tokenizer_dir("Qwen/Qwen3-8B") == bundled_tokenizer_dir()


def test_plan_json_counts_equal_hugging_face_apply_chat_template():
    """The Must-show: `docpipe plan --json` token counts = HF Qwen3 tokenizer on the same rendered prompt."""
    from pipeline.tasks.checklist import load_checklist
    from pipeline.ingest.read import ingest
    from pipeline.plan.prompts import build_messages

    result = CliRunner().invoke(app, ["plan", str(SAMPLES), "--json"])
    assert result.exit_code == 0, result.output
    documents = json.loads(result.stdout)["documents"]
    assert len(documents) == len(list(SAMPLES.glob("*.pdf")))
    hf = AutoTokenizer.from_pretrained(str(bundled_tokenizer_dir()))
    for row in documents:
        doc = ingest(__import__("pathlib").Path(row["path"]))
        for task, counted in row["task_tokens"].items():
            messages = build_messages(task, doc.pages, len(doc.pages), load_checklist() if task == "clauses" else ())
            ids = hf.apply_chat_template([m.model_dump() for m in messages], tokenize=True,
                                         add_generation_prompt=True, enable_thinking=False, return_dict=False)
            assert counted == len(ids)
        assert row["prompt_tokens"] == max(row["task_tokens"].values())
