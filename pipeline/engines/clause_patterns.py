"""Per-category sentence matchers for the model-free "extractive" clause engine.

Contract: a category matches a sentence when any of its patterns matches (``re.search``,
case-insensitive) and none of its exclude patterns does. Patterns for the 41 CUAD categories are
curated in ``clause_patterns.json`` (shipped as package data of ``pipeline.engines``); categories
not in that file get simple patterns derived from their name and description.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

__all__ = ["CategoryMatcher", "derive_patterns", "known_categories", "load_matchers"]

_FLAGS = re.IGNORECASE
_DATA_FILE = "clause_patterns.json"

# Words too common in contract text or in checklist questions to identify a category on their own.
_STOPWORDS = frozenset(
    """a about above after against all also an and any are as at be been before being between both
    but by can clause clauses contain contains contract contracts counterparty do does during each
    either etc for from has have how if in include includes including into is it its may more must
    no nor not of on or other over party party's parties per such shall should than that the their
    them then there these they this those to under upon was what when where whether which while who
    will with within without would agreement agreements provision provisions term terms one two""".split()
)
_WORD_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_MAX_DESCRIPTION_TERMS = 4


@dataclass(frozen=True)
class CategoryMatcher:
    """Compiled patterns of one checklist category.

    ``name`` is the category name as given by the caller (not normalised).
    """

    name: str
    patterns: tuple[re.Pattern[str], ...]
    exclude: tuple[re.Pattern[str], ...] = ()

    def matches(self, sentence: str) -> bool:
        """True iff some pattern matches ``sentence`` and no exclude pattern does."""
        if not any(p.search(sentence) for p in self.patterns):
            return False
        return not any(x.search(sentence) for x in self.exclude)


def _key(name: str) -> str:
    return " ".join(name.casefold().split())


def _compile(regexes: Sequence[str]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(regex, _FLAGS) for regex in regexes)


@functools.cache
def _curated() -> dict[str, tuple[tuple[re.Pattern[str], ...], tuple[re.Pattern[str], ...]]]:
    """Compiled (patterns, exclude) per case-folded category name, read once from package data.

    Raises ``re.error`` if a curated pattern is invalid.
    """
    raw = resources.files("pipeline.engines").joinpath(_DATA_FILE).read_text(encoding="utf-8")
    categories: dict[str, dict[str, list[str]]] = json.loads(raw)["categories"]
    return {
        _key(name): (_compile(spec.get("patterns", ())), _compile(spec.get("exclude", ())))
        for name, spec in categories.items()
    }


def known_categories() -> tuple[str, ...]:
    """Names (case-folded) of the categories that have curated patterns."""
    return tuple(_curated())


def _plural_regex(word: str) -> str:
    """Regex for one word, tolerant of a plural/singular ``s``."""
    stem = word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word
    return re.escape(stem) + r"s?"


def _phrase_regex(words: Sequence[str]) -> str:
    """Regex for consecutive words separated by whitespace, hyphens or slashes; the last may be plural."""
    parts = [re.escape(w) for w in words[:-1]] + [_plural_regex(words[-1])]
    return r"\b" + r"[\s/-]+".join(parts) + r"\b"


def _significant(text: str) -> list[str | None]:
    """Words of ``text`` in order, with stopwords and very short words replaced by None."""
    return [w if w not in _STOPWORDS and len(w) > 2 else None for w in _WORD_RE.findall(text.casefold())]


def derive_patterns(name: str, description: str = "") -> tuple[str, ...]:
    """Patterns for a category without curated ones (precision over recall).

    Returns: the name's significant words as one phrase (flexible whitespace, optional plural
    ``s`` on the last word), plus up to four phrases of two adjacent significant words from the
    description.
    Returns an empty tuple when neither yields a word (such a category then never matches).
    """
    patterns: list[str] = []
    name_words = [w for w in _significant(name) if w]
    if name_words:
        patterns.append(_phrase_regex(name_words))
    words = _significant(description)
    terms = 0
    for first, second in zip(words, words[1:]):
        if terms == _MAX_DESCRIPTION_TERMS:
            break
        if not (first and second) or first == second or set(name_words) >= {first, second}:
            continue  # a stopword, a repeat, or already covered by the name phrase
        regex = _phrase_regex((first, second))
        if regex not in patterns:
            patterns.append(regex)
            terms += 1
    return tuple(patterns)


def load_matchers(categories: Sequence[tuple[str, str]]) -> list[CategoryMatcher]:
    """One matcher per ``(name, description)`` pair, in the given order.

    Known CUAD category names (compared case-insensitively, whitespace-normalised) use the
    curated patterns; any other name uses ``derive_patterns(name, description)``.
    Raises ``re.error`` if a curated pattern is invalid (on the first call).
    """
    curated = _curated()
    matchers: list[CategoryMatcher] = []
    for name, description in categories:
        patterns, exclude = curated.get(_key(name)) or (_compile(derive_patterns(name, description)), ())
        matchers.append(CategoryMatcher(name=name, patterns=patterns, exclude=exclude))
    return matchers
