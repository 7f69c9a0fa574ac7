"""The keyword baseline engine: a category's name words, whole, in one sentence."""

import json

from pipeline.config import RunConfig
from pipeline.engines.base import create_engine
from pipeline.engines.keyword import keyword_clauses, lead, name_words
from pipeline.models import ChecklistItem, Page

CHECKLIST = (ChecklistItem(name="Audit Rights"), ChecklistItem(name="Non-Compete"), ChecklistItem(name="Insurance"))


def _pages(*texts):
    return [Page(page_number=i, page_label=str(i), text=t) for i, t in enumerate(texts, start=1)]


def test_name_words_are_stemmed_whole_words():
    assert name_words("Audit Rights") == {"audit", "right"}
    assert name_words("Non-Compete") == {"non", "compete"}


def test_a_sentence_matches_when_it_holds_every_word_of_the_name():
    pages = _pages(
        "Licensor has the right to audit the books. Auditing is rare.",
        "Non compete: the Distributor shall not compete. The insurer shall provide no insurance? Yes.",
        "The seller shall be noncompetitive. We insure nothing.",
    )
    clauses = json.loads(keyword_clauses(pages, CHECKLIST))["clauses"]
    assert [(c["category"], c["quote"], c["page_number"]) for c in clauses] == [
        ("Audit Rights", "Licensor has the right to audit the books.", 1),
        ("Non-Compete", "Non compete: the Distributor shall not compete.", 2),
        ("Insurance", "The insurer shall provide no insurance?", 2),
    ]


def test_at_most_five_sentences_per_category():
    pages = _pages(" ".join(f"Insurance clause number {i}." for i in range(8)))
    assert len(json.loads(keyword_clauses(pages, CHECKLIST))["clauses"]) == 5


def test_summary_is_the_lead_sentences_and_the_engine_is_built_by_name():
    pages = _pages("Title. This agreement is made by the parties below today.", "Second page has six words here.")
    assert [p.page_number for p in lead(pages, 8).points] == [1, 2]
    engine = create_engine(RunConfig(engine="keyword"))
    assert engine.name == "keyword" and engine.model is None
