"""A trivial keyword baseline behind the engine protocol, for measuring what the real engines add.

- clauses: a sentence belongs to a category when it contains every word of the category's name (case-
  insensitive, whole words, a plural `s` either way: "Audit Rights" matches "audit right"); at most
  MAX_PER_CATEGORY sentences per category, in reading order — the same cap as the extractive engine;
- summary: the document's first sentences of at least MIN_SUMMARY_WORDS words (a lead baseline).
Every quote is a verbatim sentence of a page, cited with that page's number. Deterministic; no confidences.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from pipeline.engines.extractive import MAX_PER_CATEGORY, ExtractiveEngine, sentences
from pipeline.models import ChecklistItem, Page
from pipeline.tasks.responses import Reply, response_model

MIN_SUMMARY_WORDS = 6
_WORD = re.compile(r"[a-z0-9]+")


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def name_words(name: str) -> frozenset[str]:
    """The words a sentence must contain to match a category named `name` (stemmed)."""
    return frozenset(_stem(w) for w in _WORD.findall(name.lower()))


class KeywordEngine(ExtractiveEngine):
    """The keyword baseline; see the module docstring. Shares the extractive engine's plumbing."""

    name = "keyword"

    def summary(self, pages: Sequence[Page]) -> str:
        return lead(pages, self.summary_points).model_dump_json()

    def clauses(self, pages: Sequence[Page], checklist: Sequence[ChecklistItem]) -> str:
        return keyword_clauses(pages, checklist)


def keyword_clauses(pages: Sequence[Page], checklist: Sequence[ChecklistItem]) -> str:
    """JSON of the clauses reply: sentences holding all of a category name's words."""
    wanted = [(item.name, name_words(item.name)) for item in checklist]
    found: list[dict[str, object]] = []
    per_category: Counter[str] = Counter()
    for sentence in sentences(pages):
        present = {_stem(w) for w in _WORD.findall(sentence.text.lower())}
        for name, needed in wanted:
            if needed and needed <= present and per_category[name] < MAX_PER_CATEGORY:
                per_category[name] += 1
                found.append({"category": name, "quote": sentence.text, "page_number": sentence.page_number})
    return response_model("clauses", checklist).model_validate({"clauses": found}).model_dump_json()


def lead(pages: Sequence[Page], n_points: int) -> Reply:
    """The first `n_points` sentences with at least MIN_SUMMARY_WORDS words (the summary task's reply)."""
    points: list[dict[str, object]] = []
    for sentence in sentences(pages):
        if len(points) == n_points:
            break
        if len(sentence.text.split()) >= MIN_SUMMARY_WORDS:
            points.append({"point": " ".join(sentence.text.split()), "quote": sentence.text,
                           "page_number": sentence.page_number})
    return response_model("summary").model_validate({"points": points})
