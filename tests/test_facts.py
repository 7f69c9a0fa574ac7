"""Claim check (cite/facts.py): the numbers and dates a claim states must be in its quote or on its page."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from pipeline.cite.facts import check_claim
from pipeline.config import RunConfig
from pipeline.run.core import run
from scripted_engine import ScriptedEngine
from tests.conftest import filler, write_pdf

PAGE = ("The Distributor shall pay a fee of $5,000,000 within thirty (30) days of each invoice, starting "
        "1 January 2020; late payments bear interest at 1.5% per month. Section 4.2 applies.")


@pytest.mark.parametrize("claim", [
    "A $5 million fee is due within 30 days.",  # scale word against digits; digits against a written number
    "Fees of $5,000,000 are due within thirty days, from January 1, 2020.",  # another date format
    "Late payments bear 1.50% monthly interest (Section 4.2), from 2020-01-01.",
    "Payments start in January 2020.",  # a month and year: any date of that month
    "The distributor pays a fee.",  # nothing to check
])
def test_numbers_and_dates_stated_in_any_form_are_supported(claim):
    assert check_claim(claim, "", PAGE).status == "supported", claim


@pytest.mark.parametrize(("claim", "missing"), [
    ("Late payments bear 27% interest.", ("27%",)),
    ("A $6 million fee is due within 45 days.", ("$6 million", "45")),
    ("Payments start on January 2, 2020.", ("January 2, 2020",)),
    ("Payments start in March 2020, at 1.5% per month.", ("March 2020",)),
    ("A fee due within sixty days.", ("sixty",)),
])
def test_a_number_or_date_on_neither_quote_nor_page_is_unsupported(claim, missing):
    check = check_claim(claim, "", PAGE)
    assert (check.status, check.numbers) == ("unsupported", missing)


def test_the_quote_supports_a_claim_as_well_as_the_page():
    assert check_claim("Due in 45 days.", "payable within 45 days", "another page").status == "supported"
    assert check_claim("Due in 45 days.", "", "another page").numbers == ("45",)


def test_typed_values_are_checked_by_value():
    values = {"fee": 5_000_000, "rate": Decimal("1.50"), "start": dt.date(2020, 1, 1), "ok": True, "n": None,
              "terms": ["net 30", 30.0]}
    check = check_claim(values, "", PAGE)
    assert (check.status, check.checked) == ("supported", 5)
    wrong = check_claim({"fee": 4_000_000, "start": dt.datetime(2021, 1, 1, 9, 30)}, "", PAGE)
    assert wrong.numbers == ("4000000", "2021-01-01")


def test_unsupported_claims_are_kept_flagged_shown_and_counted(tmp_path):
    """A real run (scripted model): the point stays, is flagged in result.json, summary.md, the review report,
    and counted in run_report.json."""
    pdf = write_pdf(tmp_path / "in" / "contract.pdf", [filler(40, "a") + " " + PAGE, filler(60, "b")])
    engine = ScriptedEngine({
        "summary": {"points": [
            {"point": "A $5 million fee is due within 30 days.", "quote": PAGE[:60], "page_number": 1},
            {"point": "Late payments bear 27% interest from 1 March 2021.", "quote": PAGE[100:160], "page_number": 1},
        ]},
        "clauses": {"clauses": []},
    })
    output = tmp_path / "out"
    report = run([pdf], output, RunConfig(), engine=engine)
    doc_id = report.documents[0].doc_id
    result = json.loads((output / doc_id / "result.json").read_text())
    assert [p["claim_check"] for p in result["summary"]] == [
        {"status": "supported", "numbers": [], "checked": 2},
        {"status": "unsupported", "numbers": ["27%", "1 March 2021"], "checked": 2},
    ]
    summary_md = (output / doc_id / "summary.md").read_text()
    assert "**[unsupported: 27%, 1 March 2021 not in the quote or on the page]**" in summary_md
    assert summary_md.count("[unsupported") == 1  # the first point is supported
    html = (output / doc_id / "report.html").read_text()
    assert "unsupported: 27%, 1 March 2021" in html and "1 summary point with unsupported numbers" in html
    run_report = json.loads((output / "run_report.json").read_text())
    assert run_report["documents"][0]["claims"] == {"checked": 2, "unsupported": 1}
    assert (run_report["totals"]["claims_checked"], run_report["totals"]["claims_unsupported"]) == (2, 1)


def test_a_point_merged_by_the_reduce_is_checked_again(tmp_path):
    """Windows route: each window's point is supported, but the model's merged point states a new number."""
    pages = [filler(1200, str(i)) + " " + PAGE for i in range(8)]
    pdf = write_pdf(tmp_path / "in" / "long.pdf", pages)

    def window_points(request):
        page = request.pages[0]
        return {"points": [{"point": "A fee of $5,000,000.", "quote": PAGE[:60], "page_number": page.page_number}]}

    def merge(request):
        return {"points": [{"point": "A fee of $5,000,000 due in 99 days.", "ids": [request.items[0].id]}]}

    engine = ScriptedEngine({"summary": window_points, "clauses": {"clauses": []}, "reduce_summary": merge})
    config = RunConfig(max_context=8192, tasks=("summary",))
    report = run([pdf], tmp_path / "out", config, engine=engine)
    result = json.loads((tmp_path / "out" / report.documents[0].doc_id / "result.json").read_text())
    assert result["route"]["kind"] == "windows" and result["route"]["reduce_depth"] >= 1
    assert [p["claim_check"]["numbers"] for p in result["summary"]] == [["99"]]
    assert report.totals["claims_unsupported"] == 1
