import pytest

from pipeline.cite.compare import changed_facts, words
from pipeline.cite.locate import PageIndex, normalize
from pipeline.models import Page


def pages(*texts):
    return [Page(page_number=i + 1, page_label=f"p{i + 1}", text=t) for i, t in enumerate(texts)]


INDEX = PageIndex(pages(
    "Intro text. The Licensee shall pay all fees.",
    "This Agreement shall be governed by the laws of the State of New York.\nNo assign-\nment without consent.",
    "The term is “five (5) years” from the Effective Date — unless terminated earlier by either party.",
    "Neither party may terminate this Agree",
    "ment for convenience.",
))


def test_exact_on_claimed_page_is_verified():
    c = INDEX.locate("governed by the laws of the State of New York", 2)
    assert (c.status, c.match, c.page_number, c.page_label) == ("verified", "exact", 2, "p2")
    assert INDEX.pages[1].text[c.char_start:c.char_end] == "governed by the laws of the State of New York"


def test_quote_on_another_page_is_relocated():
    c = INDEX.locate("The Licensee shall pay all fees.", 3)
    assert (c.status, c.page_number, c.claimed_page_number) == ("relocated", 1, 3)


def test_normalised_match_ignores_case_spacing_quote_styles_and_dashes():
    c = INDEX.locate('the term is "five (5) years"  from the effective date - unless', 3)
    assert (c.status, c.match) == ("verified", "normalized")


def test_line_break_hyphen_matches_the_joined_word_by_fuzzy():
    c = INDEX.locate("No assignment without consent.", 2)
    assert c.status == "verified" and c.match in ("normalized", "fuzzy")


def test_fuzzy_tolerates_small_differences():
    c = INDEX.locate("This Agreement will be governed by the law of the State of New York", 2)
    assert (c.status, c.match) == ("verified", "fuzzy") and c.score >= 90


def test_quote_across_a_page_break_cites_its_first_page():
    c = INDEX.locate("Neither party may terminate this Agreement for convenience.", 4)
    assert c.status == "verified" and c.page_number == 4


def test_invented_quote_is_unverified_and_keeps_the_claim():
    c = INDEX.locate("The governing law is the law of Mars.", 2)
    assert (c.status, c.match, c.page_number, c.claimed_page_number) == ("unverified", "none", 2, 2)
    assert INDEX.locate("anything at all, really", 99).page_number is None


def test_normalize_maps_offsets_back_to_source():
    text, offsets = normalize("  A\u00a0“B”\n\nC\u200b")
    assert text == 'a "b" c'
    assert [offsets[i] for i in range(len(text))] == [2, 3, 4, 5, 6, 7, 9]


LAW = PageIndex(pages(
    "12. Governing Law. This Agreement shall be governed by and construed in accordance with the laws of the "
    "State of Delaware. The Supplier shall not be liable for indirect damages. Fees are due within 30 days.",
))


def test_fuzzy_match_may_not_change_a_name_a_number_or_a_negation():
    for altered in (
        "This Agreement shall be governed by and construed in accordance with the laws of Mars.",
        "This Agreement shall be governed by and construed in accordance with the laws of the State of Mars.",
        "The Supplier shall never be liable for indirect damages.",  # negation swapped
        "The Supplier shall be liable for indirect damages.",  # negation dropped
        "The Supplier shall not be liable for indirect damages. Fees are due within 60 days.",
    ):
        assert LAW.locate(altered, 1).status == "unverified", altered


def test_fuzzy_match_still_forgives_slips():
    for slipped in (
        "This Agreement will be governed by and construed in accordance with the law of the State of Delaware.",
        "This Agreement shall be governed by and construed in accordance with the laws of the State of Delawar.",
        "The Supplier shall not be liable for any indirect damages.",
    ):
        c = LAW.locate(slipped, 1)
        assert (c.status, c.match) == ("verified", "fuzzy"), slipped


def test_fact_check_sees_words_as_normalised_text_does():
    index = PageIndex(pages("Filed with the Commission (File No. 333194486) as the Registration Statement on Form S-1."))
    c = index.locate("Filed with Commission (File No. 333\u00ad194486) as the Registration Statement on Form S-1.", 1)
    assert (c.status, c.match) == ("verified", "fuzzy")  # a soft hyphen inside the number is no new number


# Issue 19: an edit that changes the meaning never verifies. The pages hold the words a bag-of-words check
# used to take as "known" (a "not" nearby, a "15" in "#10-15"), so only a word-by-word comparison refuses.
MEANING = PageIndex(pages(
    "Heritage shall evaluate Products on a regular schedule to ensure quality. Heritage does not warrant "
    "results. Disputes will be submitted to final and binding arbitration in New York, not to the courts.",
    "IBM will identify them in a written notice to the Customer within thirty (30) days after the "
    "Effective Date of January 1, 2020. IBM will not disclose them.",
    "Licensee is granted a non-exclusive license with no rights to sublicense, for a fee of $5,000 per year "
    "and a royalty of 12% of Net Sales. ALPHA PTE LTD 6 Eu Tong Sen Street #10-15 Singapore.",
))


@pytest.mark.parametrize(("altered", "page"), [
    ("Heritage shall not evaluate Products on a regular schedule to ensure quality.", 1),  # negation added
    ("Disputes will not be submitted to final and binding arbitration in New York", 1),
    ("IBM will not identify them in a written notice to the Customer within thirty (30) days", 2),
    ("Licensee is granted a non-exclusive license with rights to sublicense", 3),  # "no" dropped
    ("Licensee is granted an exclusive license with no rights to sublicense", 3),  # "non-" dropped
    ("Licensee is granted a non-exclusive license with no rights to sublicense, for a fee of $50,000 per year", 3),
    ("for a fee of $5,000 per year and a royalty of 15% of Net Sales.", 3),  # percent changed
    ("for a fee of $5,000 per month and a royalty of 12% of Net Sales.", 3),  # duration changed
    ("ALPHA PTE LTD 15 Eu Tong Sen Street #10-15 Singapore.", 3),  # the "LTD 15" case
    ("in a written notice to the Customer within sixty (30) days after the Effective Date", 2),  # written number
    ("within thirty (30) days after the Effective Date of January 11, 2020. IBM will not disclose them.", 2),
    ("within thirty (30) days after the Effective Date of February 1, 2020. IBM will not disclose them.", 2),
    ("IBM will identify them in a written notice to the Supplier within thirty (30) days", 2),  # name replaced
    ("Oracle will identify them in a written notice to the Customer within thirty (30) days", 2),
    ("Licensor is granted a non-exclusive license with no rights to sublicense", 3),
])
def test_a_changed_negation_number_date_or_name_never_verifies(altered, page):
    c = MEANING.locate(altered, page)
    assert (c.status, c.match) == ("unverified", "none"), altered


@pytest.mark.parametrize(("slipped", "page"), [
    ("Heritage shall evaluate Products on regular schedule to ensure quality.", 1),  # dropped filler word
    ("Disputes shall be submitted to final and binding arbitration in New York", 1),  # shall for will
    ("IBM will identify them in a writen notice to the Custorner within thirty (30) days", 2),  # OCR slips
    ("Licensee is granted a non-exclusive licence with no rights to sub-\nlicense, for a fee of $5,000 per year", 3),
    ("Licensee is granted a nonexclusive license with no rights to sublicense, for a fee of $5,000", 3),
    ("‘ALPHA PTE LTD 6 Eu Tong Sen Street #10-15 Singapore’", 3),  # quote styles
])
def test_slips_that_keep_the_meaning_still_verify(slipped, page):
    c = MEANING.locate(slipped, page)
    assert c.status == "verified" and c.page_number == page, slipped


def test_ocr_misreadings_on_the_page_are_forgiven_but_not_a_new_word():
    ocr = PageIndex(pages("The Reseller may terminate with0ut cause on 3O days notice, un1ess the Ternitory "
                          "is exclusive."))
    assert ocr.locate("The Reseller may terminate without cause on 30 days notice, unless the Territory", 1).status \
        == "verified"
    assert ocr.locate("The Reseller may terminate with cause on 30 days notice, unless the Territory", 1).status \
        == "unverified"
    assert ocr.locate("The Reseller may terminate without cause on 60 days notice, unless the Territory", 1).status \
        == "unverified"


def test_compare_reports_what_changed():
    def ws(text):
        norm, offsets = normalize(text)
        return words(norm, text, offsets)

    span = ws("the Company shall not pay more than 10% of the fees to Acme")
    assert changed_facts(ws("the Company shall not pay more than 10% of the fees to Acme"), span) == []
    assert changed_facts(ws("the Company shall pay more than 10% of fees to Acme"), span) == ["not"]
    assert changed_facts(ws("the Company shall not pay more than 20% of the fees to Acme"), span) == ["10", "20"]
    renamed = ws("the Company shall not pay more than 10% of the fees to Zenith")
    assert changed_facts(renamed, span) == ["zenith", "acme"]


def test_a_fuzzy_citation_spans_the_page_words_the_quote_aligned_with():
    dropped = "This Agreement shall be governed by and construed in accordance with laws of the State of Delaware"
    c = LAW.locate(dropped, 1)
    assert c.match == "fuzzy"
    assert LAW.pages[0].text[c.char_start:c.char_end] == (
        "This Agreement shall be governed by and construed in accordance with the laws of the State of Delaware")


def test_a_rule_drawn_with_characters_reads_as_a_space():
    # A signature block as a text layer has it, and as OCR reads its scan (rules are lines, not text).
    layer = "Arkansas Corporation By /s/ [ILLEGIBLE] --------------------------------------- President WITNESS: " \
            "/s/ [ILLEGIBLE] ________________________ dated ....... May 20, 1992"
    scan = PageIndex(pages("Arkansas Corporation BY /s/ [ILLEGIBLE]\nPresident WITNESS: /s/ [ILLEGIBLE]\n"
                           "dated May 20, 1992"))
    c = scan.locate(layer, 1)
    assert (c.status, c.match) == ("verified", "normalized")
    assert normalize("a -- b ... c")[0] == "a -- b ... c"  # short runs are punctuation, kept
    assert scan.locate(layer.replace("May 20", "May 21"), 1).status == "unverified"  # the rule is not a wildcard
