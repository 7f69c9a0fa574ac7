"""Items of tasks from task files (merge/task_items.py) across windows: many → distinct by quote; one → one value per field,
conflicts flagged; numbers and dates checked against their located quote and page (cite.facts)."""

from __future__ import annotations

from pipeline.cite.locate import PageIndex
from pipeline.merge.task_items import cite_items, merge_items
from pipeline.models import Page
from pipeline.tasks.registry import load_task
from pipeline.tasks.schema import reply_model

PAGES = (
    Page(page_number=1, page_label="1", text="This Agreement is made as of March 3, 2021 between Acme Inc. and Beta LLC."),
    Page(page_number=2, page_label="2", text="Either party may end renewal on sixty (60) days notice. "
                                             "The laws of the State of Delaware govern."),
    Page(page_number=3, page_label="3", text="The laws of the State of New York govern this exhibit. Accuracy was 87.3% on test."),
)
INDEX = PageIndex(PAGES)
TERMS = load_task("contract_terms")
FINDINGS = load_task("paper_findings")


def _terms(**fields: tuple[object, str, int] | None):
    data = {f.name: None for f in TERMS.value_fields}
    data |= {k: {"value": v[0], "quote": v[1], "page_number": v[2]} if v else None for k, v in fields.items()}
    return cite_items(TERMS, [reply_model(TERMS).model_validate(data)], INDEX)


def _finding(kind: str, quote: str, page: int, value: float | None = None):
    return {"kind": kind, "statement": "s", "value": value, "metric": None, "quote": quote, "page_number": page}


def test_one_item_tasks_keep_one_value_per_field_and_flag_disagreement():
    w1 = _terms(governing_law=("Delaware", "The laws of the State of Delaware govern.", 2),
                effective_date=("2021-03-03", "made as of March 3, 2021", 1))
    w2 = _terms(governing_law=("New York", "The laws of the State of New York govern this exhibit.", 3),
                renewal_notice_days=(60, "sixty (60) days notice", 2))
    (item,) = merge_items(TERMS, [w1, w2])
    assert item.values["governing_law"] == "Delaware" and item.citations["governing_law"].page_number == 2
    assert item.values["renewal_notice_days"] == 60 and item.values["term"] is None and "term" not in item.citations
    assert item.conflicts == ("governing_law",)
    assert item.unsupported == ()
    (same,) = merge_items(TERMS, [w1, _terms(governing_law=("delaware.", "The laws of the State of Delaware", 2))])
    assert same.conflicts == ()  # the same value, written differently
    assert merge_items(TERMS, []) == ()


def test_a_value_its_quote_does_not_state_is_flagged():
    (item,) = _terms(renewal_notice_days=(90, "sixty (60) days notice", 2),
                     effective_date=("2021-03-04", "made as of March 3, 2021", 1),
                     governing_law=("Delaware", "The laws of the State of Delaware govern.", 2))
    assert set(item.unsupported) == {"renewal_notice_days", "effective_date"}
    (right,) = _terms(renewal_notice_days=(60, "sixty (60) days notice", 2),
                      effective_date=("2021-03-03", "made as of March 3, 2021", 1))
    assert right.unsupported == ()


def test_many_item_tasks_drop_duplicates_by_quote_and_keep_distinct_items():
    model = reply_model(FINDINGS)
    w1 = cite_items(FINDINGS, model.model_validate({"items": [
        _finding("result", "Accuracy was 87.3% on test.", 3, 87.3),
        _finding("method", "Beta LLC", 1)]}).items, INDEX)
    w2 = cite_items(FINDINGS, model.model_validate({"items": [
        _finding("result", "Accuracy was 87.3%", 2, 87.3),  # the same quote, claimed on the wrong page
        _finding("limitation", "a quote found nowhere", 2)]}).items, INDEX)
    merged = merge_items(FINDINGS, [w1, w2])
    assert [i.values["kind"] for i in merged] == ["result", "method", "limitation"]
    assert merged[0].citation.status == "verified" and merged[0].unsupported == ()
    assert merged[2].citation.status == "unverified"  # kept and flagged, never dropped
