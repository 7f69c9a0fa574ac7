"""Windows: exact fit, overlap, pages cut inside only when one alone is too long, and the whole windows
route end to end on a generated document of over 300k tokens."""

import itertools
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.tasks.checklist import parse_checklist
from pipeline.cli import app
from pipeline.config import RunConfig
from pipeline.models import Document, Page, Source, Window
from pipeline.plan.routes import plan_document
from pipeline.plan.prompts import build_messages
from pipeline.plan.windows import page_costs, split_text, split_windows
from tests.conftest import filler, write_long_pdf

CHECKLIST = parse_checklist("name,description\nGoverning Law,Which law governs\n", "t")
SUMMARY_ONLY = RunConfig(tasks=("summary",), summary_reserve=100, window_overlap=0.0)


def _doc(texts: list[str]) -> Document:
    pages = tuple(Page(page_number=i, page_label=str(i), text=t) for i, t in enumerate(texts, start=1))
    return Document(doc_id="0" * 16, source=Source(path="x.pdf", sha256="0" * 64, page_count=len(pages),
                                                   size_bytes=1), pages=pages)


def _exact(tokenizer, doc: Document, first: int, last: int) -> int:
    """Tokens of the summary prompt of a window holding pages first..last (1-based), rendered as sent."""
    window = Window(index=0, page_start=first, page_end=last, prompt_tokens=0)
    return tokenizer.count_chat(build_messages("summary", doc.pages[first - 1 : last], len(doc.pages), (), window))


def test_a_window_that_fits_exactly_is_kept_and_one_token_less_drops_a_page(tokenizer):
    doc = _doc([filler(150, seed="x" * i) for i in range(8)])
    exact = _exact(tokenizer, doc, 1, 3)
    (first, *_) = split_windows(doc, SUMMARY_ONLY, tokenizer, (), budget=exact + 100)
    assert (first.window.page_start, first.window.page_end) == (1, 3)
    assert first.window.prompt_tokens == first.tokens["summary"] == exact
    (first, *_) = split_windows(doc, SUMMARY_ONLY, tokenizer, (), budget=exact + 99)
    assert (first.window.page_start, first.window.page_end) == (1, 2)


def test_windows_cover_every_page_in_order_and_fit_by_exact_count(tokenizer):
    doc = _doc([filler(120 + 40 * (i % 5), seed=str(i)) for i in range(30)])
    config = RunConfig(summary_reserve=200, clauses_reserve=300)
    slices = split_windows(doc, config, tokenizer, CHECKLIST, budget=2000)
    assert len(slices) > 3
    for s in slices:
        for task, messages in s.messages.items():
            assert s.tokens[task] == tokenizer.count_chat(messages)
            assert s.tokens[task] + config.reserve(task) <= 2000
        assert f"You are reading pages {s.window.page_start} to {s.window.page_end} of 30" in s.messages["summary"][1].content
    assert slices[0].window.page_start == 1 and slices[-1].window.page_end == 30
    for a, b in itertools.pairwise(slices):
        assert a.window.page_start < b.window.page_start <= a.window.page_end + 1


def test_consecutive_windows_overlap_by_at_most_the_configured_share(tokenizer):
    doc = _doc([filler(100, seed=str(i)) for i in range(40)])
    costs = page_costs(doc.pages, tokenizer)
    for share in (0.1, 0.25):
        slices = split_windows(doc, SUMMARY_ONLY.model_copy(update={"window_overlap": share}), tokenizer, (), 2500)
        for a, b in itertools.pairwise(slices):
            shared = range(b.window.page_start, a.window.page_end + 1)
            assert len(shared) >= 1  # pages of ~100 tokens: 10% of a ~2,000-token window holds one
            text = sum(costs[a.window.page_start - 1 : a.window.page_end])
            assert sum(costs[n - 1] for n in shared) <= share * text
    no_overlap = split_windows(doc, SUMMARY_ONLY, tokenizer, (), 2500)
    assert all(b.window.page_start == a.window.page_end + 1 for a, b in itertools.pairwise(no_overlap))


def test_only_a_page_too_long_for_a_window_is_cut_at_paragraphs(tokenizer):
    paragraphs = [filler(60, seed=str(k)) for k in range(14)]
    long_page = "\n\n".join(paragraphs)
    doc = _doc([filler(50, "a"), long_page, filler(50, "b")])
    slices = split_windows(doc, SUMMARY_ONLY, tokenizer, (), budget=600)
    parts = [p for s in slices for p in s.window.parts]
    assert len(parts) >= 2 and {p.page_number for p in parts} == {2}
    assert [p.part for p in parts] == list(range(1, len(parts) + 1)) and all(p.parts == len(parts) for p in parts)
    assert parts[0].char_start == 0 and parts[-1].char_end == len(long_page)
    for a, b in itertools.pairwise(parts):
        assert a.char_end == b.char_start and long_page[: a.char_end].endswith("\n\n")  # at a paragraph break
    held = [page for s in slices for page in s.pages]
    assert [p.text for p in held if p.page_number != 2] == [doc.pages[0].text, doc.pages[2].text]
    for s in slices:
        assert s.tokens["summary"] + 100 <= 600
        for part in s.window.parts:
            assert f"=== page 2 (printed label: 2; part {part.part} of {part.parts} of this page) ===" in (
                s.messages["summary"][1].content)


def test_split_text_falls_back_to_sentences_then_spaces(tokenizer):
    sentences = " ".join(f"Sentence {k} says {filler(25, str(k))}" for k in range(12))
    spans = split_text(sentences, 120, tokenizer)
    assert len(spans) > 1 and spans[0][0] == 0 and spans[-1][1] == len(sentences)
    assert all(sentences[start:].startswith("Sentence") for start, _ in spans)  # cut at sentence starts
    words = filler(400)
    spans = split_text(words, 100, tokenizer)
    assert all(words[start - 1] == " " for start, _ in spans[1:])  # cut after a space, inside no word
    assert all(tokenizer.count(words[a:b]) <= 100 for a, b in spans)


def test_a_document_far_over_the_context_is_never_tokenized_whole(tokenizer):
    class Recording:
        longest = 0

        def count(self, text):
            Recording.longest = max(Recording.longest, len(text))
            return tokenizer.count(text)

        def count_chat(self, messages, thinking=False):
            Recording.longest = max(Recording.longest, sum(len(m.content) for m in messages))
            return tokenizer.count_chat(messages, thinking)

        def count_chats(self, conversations, thinking=False):
            return [self.count_chat(messages, thinking) for messages in conversations]

        def control_strings(self):
            return tokenizer.control_strings()

    doc = _doc([filler(400, seed=str(i)) for i in range(40)])
    plan = plan_document(doc, RunConfig(max_context=4096, summary_reserve=200, clauses_reserve=300),
                         Recording(), CHECKLIST)  # type: ignore[arg-type]
    assert plan.route.kind == "windows" and plan.route.task_tokens == {}
    assert plan.route.total_tokens > 4096
    assert Recording.longest < sum(len(p.text) for p in doc.pages) / 4


def test_window_overlap_flag_is_checked(tmp_path: Path):
    result = CliRunner().invoke(app, ["plan", str(tmp_path), "--window-overlap", "0.7"])
    assert result.exit_code == 2 and "window_overlap" in result.output


# --- end to end: a generated document of over 300k tokens, clauses planted far apart and in an overlap ---

GOV_DE = "This Agreement shall be governed by and construed in accordance with the laws of the State of Delaware."
GOV_NY = "This Agreement shall be governed by the laws of the State of New York."
INSURANCE = "The Supplier shall maintain insurance coverage with reputable carriers at its own expense."
ASSIGN = "Neither party may assign this Agreement without the prior written consent of the other party."
AUDIT = "The Licensor may audit the books and records of the Licensee once in each calendar year."
PAGES = 150
PLANTED = {3: GOV_DE, 40: INSURANCE, 75: ASSIGN, 105: AUDIT, 149: GOV_NY}  # 105: in windows 2 and 3


@pytest.mark.slow
def test_long_document_every_planted_clause_once_on_its_page(tmp_path: Path, tokenizer):
    texts = [filler(2100, seed="p" * (i % 7)) + " " + PLANTED.get(i + 1, "") for i in range(PAGES)]
    pdf = write_long_pdf(tmp_path / "long.pdf", texts)
    result = CliRunner().invoke(app, ["run", str(pdf), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "run_report.json").read_text())
    (row,) = report["documents"]
    doc = json.loads((tmp_path / "out" / row["doc_id"] / "result.json").read_text())
    route = doc["route"]
    assert route["kind"] == "windows" and route["total_tokens"] >= 300_000
    spans = [(w["page_start"], w["page_end"]) for w in route["windows"]]
    assert len(spans) >= 3 and row["window_spans"] == route["windows"] and row["windows"] == len(spans)
    assert sum(start <= 105 <= end for start, end in spans) == 2, f"page 105 is not in an overlap: {spans}"
    found: dict[str, list[tuple[int, bool]]] = {}
    for clause in doc["clauses"]:
        assert clause["citation"]["status"] == "verified"
        found.setdefault(clause["category"], []).append((clause["citation"]["page_number"], clause["conflict"]))
    assert found["Governing Law"] == [(3, True), (149, True)]  # two different laws: a conflict, both kept
    assert found["Insurance"] == [(40, False)]
    assert found["Anti-Assignment"] == [(75, False)]
    assert found["Audit Rights"] == [(105, False)]  # seen by two windows, kept once
    assert "Governing Law" not in doc["absent"] and "Non-Compete" in doc["absent"]
    assert route["reduce_depth"] >= 1 and row["reduce_depth"] == route["reduce_depth"]
    assert 1 <= len(doc["summary"]) <= 8
    assert all(p["citation"]["status"] == "verified" for p in doc["summary"])
