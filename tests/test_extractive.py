from pipeline.tasks.checklist import load_checklist
from pipeline.config import RunConfig
from pipeline.engines.extractive import ExtractiveEngine, extract_clauses, summarize
from pipeline.ingest.read import ingest
from pipeline.plan.routes import plan_document
from pipeline.tasks.responses import parse_reply, response_model
from tests.conftest import SAMPLES


def _plan(tokenizer):
    doc = ingest(SAMPLES / "neon-systems-distributor-agreement.pdf")
    return doc, plan_document(doc, RunConfig(), tokenizer, load_checklist())


def test_replies_parse_and_quotes_are_verbatim_page_slices(tokenizer):
    doc, plan = _plan(tokenizer)
    completions = ExtractiveEngine().generate(plan.requests)
    assert [c.request_id for c in completions] == [r.request_id for r in plan.requests]
    summary = parse_reply(response_model("summary"), completions[0].text)
    assert 1 <= len(summary.points) <= 8
    clauses = parse_reply(response_model("clauses", load_checklist()), completions[1].text)
    assert clauses.clauses
    for item in [*summary.points, *clauses.clauses]:
        assert item.quote in doc.pages[item.page_number - 1].text


def test_deterministic(tokenizer):
    _, plan = _plan(tokenizer)
    assert [c.text for c in ExtractiveEngine().generate(plan.requests)] == [
        c.text for c in ExtractiveEngine().generate(plan.requests)
    ]


HEADER = "ALL SUCH OMITTED MATERIAL HAS BEEN FILED SEPARATELY WITH THE SECURITIES AND EXCHANGE COMMISSION"
TOC_TITLES = ["Definitions", "License Grant and Exclusivity", "Term and Renewal", "Termination for Convenience",
              "Assignment and Change of Control", "Limitation of Liability and Cap on Liability", "Governing Law"]
BODY = [
    "The Licensee shall pay the Licensor a royalty of five percent of net sales of each Product sold in the "
    "Territory during each calendar quarter.",
    "This Agreement shall be governed by and construed in accordance with the laws of the State of New York.",
    "Either party may terminate this Agreement for convenience upon ninety days prior written notice to the "
    "other party.",
    "Neither party may assign this Agreement without the prior written consent of the other party, which shall "
    "not be unreasonably withheld.",
    "The Licensor grants the Licensee an exclusive license to distribute the Products in the Territory during "
    "the Term.",
    "The initial term of this Agreement is three years and renews automatically for successive one year periods.",
]


def test_page_headers_footers_and_table_of_contents_are_never_quoted(tmp_path):
    """A filed contract's shape: an SEC legend on every page (a line of its own, which the sentence splitter
    would glue to each page's first sentence), a dot-leader table of contents naming clause categories, and
    a `Page N of M` footer. Without recognising them the engine quoted the legend in every clause and the TOC
    lines as clauses (seen on CUAD contracts)."""
    from tests.conftest import filler, write_pdf

    toc = "TABLE OF CONTENTS\n" + "\n".join(f"Article {i} {title} . . . . . . . . . . . . {i + 1}"
                                            for i, title in enumerate(TOC_TITLES, 1))
    pages = [HEADER + "\n" + toc] + [f"{HEADER}\n{text} {filler(50, str(i))}\nPage {i + 2} of 7"
                                     for i, text in enumerate(BODY)]
    doc = ingest(write_pdf(tmp_path / "filed.pdf", pages))
    summary = summarize(doc.pages, 8)
    clauses = response_model("clauses", load_checklist()).model_validate_json(
        extract_clauses(doc.pages, load_checklist())).clauses
    quotes = [p.quote for p in summary.points] + [c.quote for c in clauses]
    assert len(summary.points) == len(BODY) and len(clauses) >= len(BODY)
    for quote in quotes:
        assert "OMITTED MATERIAL" not in quote and ". . . ." not in quote and "Page " not in quote
        assert any(quote in page.text for page in doc.pages)  # still verbatim slices of the page text
    assert {c.category for c in clauses} >= {"Governing Law", "Anti-Assignment", "Termination for Convenience"}


def test_boilerplate_needs_repetition_and_keeps_content():
    from pipeline.engines.boilerplate import content_spans
    from pipeline.models import Page

    def pages(texts: list[str]) -> list[Page]:
        return [Page(page_number=i, page_label=str(i), text=t) for i, t in enumerate(texts, 1)]

    two = pages(["Confidential\nThe fee is due.", "Confidential\nThe term is one year."])
    assert content_spans(two) == {1: [(0, len(two[0].text))], 2: [(0, len(two[1].text))]}  # too few pages to tell
    words = ["Fees are due.", "Term is one year.", "Law is Delaware.", "Notices in writing."]
    four = pages([f"Confidential\n{w}\n- {i} -" for i, w in enumerate(words, 1)] + ["", "Signature page."])
    spans = content_spans(four)
    assert [four[0].text[a:b] for a, b in spans[1]] == ["\nFees are due.\n"]  # header and page number cut
    assert spans[5] == [] and spans[6] == [(0, len("Signature page."))]  # once is not a header
