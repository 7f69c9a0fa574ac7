"""The deterministic clause merge: duplicates from overlapping windows collapse, distinct instances stay,
conflicting values of a single-valued category are flagged."""

from pipeline.merge.clauses import merge_clauses
from pipeline.models import Citation, Clause


def _clause(category: str, quote: str, page: int | None, start: int | None = 0, status: str = "verified") -> Clause:
    located = status != "unverified"
    citation = Citation(quote=quote, page_number=page, page_label=str(page), claimed_page_number=page,
                        status=status, match="exact" if located else "none", score=100.0 if located else 0.0,
                        char_start=start if located else None,
                        char_end=start + len(quote) if located and start is not None else None)
    return Clause(category=category, citation=citation)


ASSIGN = "Neither party may assign this Agreement without the prior written consent of the other party."


def test_the_same_clause_from_two_overlapping_windows_is_kept_once_with_the_better_citation():
    short = _clause("Anti-Assignment", ASSIGN[:60], 40, start=100)
    full = _clause("Anti-Assignment", ASSIGN, 40, start=100)
    relocated = _clause("Anti-Assignment", ASSIGN, 40, start=100, status="relocated")
    assert merge_clauses([[short], [full]]) == [full]  # overlapping spans: the longer quote kept
    assert merge_clauses([[relocated], [short]]) == [short]  # a verified citation beats a relocated one
    unlocated = _clause("Anti-Assignment", ASSIGN.upper(), 40, status="unverified")
    assert merge_clauses([[full], [unlocated]]) == [full]  # same normalised text


def test_distinct_instances_stay():
    first = _clause("Anti-Assignment", ASSIGN, 12, start=50)
    other = _clause("Anti-Assignment", "The Licensee shall not transfer the licence to any affiliate.", 12, start=900)
    repeated = _clause("Anti-Assignment", ASSIGN, 80, start=50)  # the same words on another page
    governing = _clause("Governing Law", ASSIGN, 12, start=50)  # same span, another category
    merged = merge_clauses([[first, other], [repeated, governing]])
    assert merged == [first, other, repeated, governing]
    assert not any(c.conflict for c in merged)


def test_conflicting_values_of_a_single_valued_category_are_flagged():
    delaware = _clause("Governing Law", "This Agreement is governed by the laws of the State of Delaware.", 3)
    delaware_again = _clause("Governing Law", "Delaware law applies: the laws of Delaware govern any dispute.", 90)
    new_york = _clause("Governing Law", "This Agreement shall be governed by the laws of New York.", 149)
    merged = merge_clauses([[delaware], [delaware_again]])
    assert [c.conflict for c in merged] == [False, False]  # the same law stated twice
    merged = merge_clauses([[delaware], [delaware_again], [new_york]])
    assert [c.conflict for c in merged] == [True, True, True]
    dates = merge_clauses([[_clause("Effective Date", "effective as of March 1, 2020", 1)],
                           [_clause("Effective Date", "This Agreement is effective January 5, 2021.", 50)]])
    assert [c.conflict for c in dates] == [True, True]
    renewal = merge_clauses([[_clause("Renewal Term", "renews for successive one (1) year terms", 4)],
                             [_clause("Renewal Term", "Each renewal term lasts one year.", 60)]])
    assert [c.conflict for c in renewal] == [False, False]
    unread = merge_clauses([[delaware], [_clause("Governing Law", "The governing law is set out in Annex B.", 70)]])
    assert [c.conflict for c in unread] == [False, False]  # no value read from the second: no claim of conflict
    many = merge_clauses([[_clause("Anti-Assignment", ASSIGN, 1)], [_clause("Anti-Assignment", "No transfer.", 9)]])
    assert [c.conflict for c in many] == [False, False]  # a category with many instances never conflicts
