"""Clause patterns of the extractive engine: curated CUAD categories and derived custom ones."""

from __future__ import annotations

import dataclasses
import json
import re
from importlib import resources

import pytest

from pipeline.engines.clause_patterns import CategoryMatcher, derive_patterns, known_categories, load_matchers

# CUAD v1's 41 categories (categories.csv, name column), hard-coded so tests do not need the data set.
CUAD_CATEGORIES = (
    "Document Name", "Parties", "Agreement Date", "Effective Date", "Expiration Date", "Renewal Term",
    "Notice Period to Terminate Renewal", "Governing Law", "Most Favored Nation", "Non-Compete", "Exclusivity",
    "No-Solicit of Customers", "Competitive Restriction Exception", "No-Solicit of Employees",
    "Non-Disparagement", "Termination for Convenience", "Rofr/Rofo/Rofn", "Change of Control",
    "Anti-Assignment", "Revenue/Profit Sharing", "Price Restrictions", "Minimum Commitment",
    "Volume Restriction", "IP Ownership Assignment", "Joint IP Ownership", "License Grant",
    "Non-Transferable License", "Affiliate License-Licensor", "Affiliate License-Licensee",
    "Unlimited/All-You-Can-Eat-License", "Irrevocable or Perpetual License", "Source Code Escrow",
    "Post-Termination Services", "Audit Rights", "Uncapped Liability", "Cap on Liability",
    "Liquidated Damages", "Warranty Duration", "Insurance", "Covenant Not to Sue", "Third Party Beneficiary",
)

UNRELATED = "The parties shall meet quarterly to review the marketing plan for the upcoming season."

# (category, a typical clause sentence of it, a sentence it must not match)
CASES = [
    ("Governing Law",
     "This Agreement shall be governed by and construed in accordance with the laws of the State of New York.",
     "Governing Law."),
    ("Anti-Assignment",
     "Neither party may assign this Agreement without the prior written consent of the other party.",
     UNRELATED),
    ("Parties",
     'This Agreement is made by and between Acme Corp., a Delaware corporation ("Supplier"), and Beta LLC.',
     UNRELATED),
    ("Agreement Date",
     "This Supply Agreement is entered into as of March 3, 2021 by and between the parties named below.",
     "Payment is due on March 3, 2021 and quarterly thereafter."),
    ("Renewal Term",
     "This Agreement shall automatically renew for successive one (1) year terms unless terminated.",
     UNRELATED),
    ("Insurance",
     "Supplier shall maintain commercial general liability insurance of not less than $1,000,000 per occurrence.",
     "Distributor shall pay all freight and insurance charges."),
    ("Cap on Liability",
     "In no event shall either party's aggregate liability exceed the fees paid in the preceding twelve months.",
     UNRELATED),
    ("Audit Rights",
     "Licensor shall have the right to audit the books and records of Licensee upon thirty days' notice.",
     "The Audit Committee of the Board reviewed the audited consolidated financial statements."),
    ("Exclusivity",
     "Distributor is appointed as the exclusive distributor of the Products in the Territory.",
     "Licensor grants Licensee a non-exclusive license to use the Marks."),
    ("Document Name",
     "EXHIBIT 10.2 MASTER SUPPLY AGREEMENT This Master Supply Agreement is made as of June 1, 2020.",
     "IN NO EVENT SHALL EITHER PARTY BE LIABLE UNDER THIS AGREEMENT FOR LOST PROFITS."),
]


def _matcher(name: str, description: str = "") -> CategoryMatcher:
    (matcher,) = load_matchers([(name, description)])
    return matcher


def test_json_has_exactly_the_41_cuad_categories_and_valid_regexes():
    raw = resources.files("pipeline.engines").joinpath("clause_patterns.json").read_text(encoding="utf-8")
    data = json.loads(raw)
    assert "CC BY 4.0" in data["source"] and "Atticus" in data["source"]
    assert sorted(data["categories"]) == sorted(CUAD_CATEGORIES)
    for name, spec in data["categories"].items():
        assert spec["patterns"], name
        for regex in [*spec["patterns"], *spec.get("exclude", [])]:
            re.compile(regex, re.IGNORECASE)
    assert set(known_categories()) == {name.casefold() for name in CUAD_CATEGORIES}


@pytest.mark.parametrize(("category", "clause", "unrelated"), CASES, ids=[c[0] for c in CASES])
def test_curated_category_matches_clause_and_not_unrelated(category, clause, unrelated):
    matcher = _matcher(category)
    assert matcher.matches(clause)
    assert not matcher.matches(unrelated)


def test_names_match_case_insensitively_and_order_is_kept():
    names = [("insurance", ""), ("GOVERNING  LAW", "whatever"), ("Parties", "")]
    matchers = load_matchers(names)
    assert [m.name for m in matchers] == ["insurance", "GOVERNING  LAW", "Parties"]
    assert matchers[1].matches("This Agreement is governed by the laws of England.")
    assert all(m.patterns for m in matchers)


def test_custom_category_gets_derived_patterns():
    matcher = _matcher("Data Protection", "Obligations about personal data")
    assert matcher.matches("The Supplier shall comply with all data protection laws.")
    assert matcher.matches("Each party shall process Personal Data only on documented instructions.")
    assert not matcher.matches(UNRELATED)
    assert not matcher.matches("The data room closes on Friday.")
    assert not matcher.exclude


def test_derived_patterns_are_phrases_not_single_common_words():
    patterns = derive_patterns("Data Protection", "Obligations about personal data")
    assert patterns[0] == r"\bdata[\s/-]+protections?\b"
    assert r"\bpersonal[\s/-]+datas?\b" in patterns
    assert derive_patterns("The", "Is there a clause?") == ()
    assert not _matcher("The", "Is there a clause?").matches(UNRELATED)


def test_matcher_is_frozen_and_exclude_wins():
    matcher = CategoryMatcher("X", (re.compile("foo", re.I),), (re.compile("bar", re.I),))
    assert matcher.matches("Foo here") and not matcher.matches("foo and bar")
    with pytest.raises(dataclasses.FrozenInstanceError):
        matcher.name = "Y"  # type: ignore[misc]
