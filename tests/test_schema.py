"""Reply models from task definitions: the bounded schema an engine enforces, the open model replies are
parsed with, and each field type's value."""

from __future__ import annotations

import json

import pytest

from pipeline.models import ChecklistItem
from pipeline.tasks.registry import load_task
from pipeline.tasks.responses import ReplyError, parse_reply
from pipeline.tasks.schema import reply_model, reply_schema

TERMS = {"parties": {"value": ["Acme Inc."], "quote": "between Acme Inc. and", "page_number": 1},
         "effective_date": {"value": "2024-02-29", "quote": "as of February 29, 2024", "page_number": 1},
         "term": None, "renewal_notice": None, "renewal_notice_days": None, "auto_renews": None,
         "governing_law": {"value": "Delaware", "quote": "laws of Delaware", "page_number": 9},
         "payment_terms": None}


def test_the_bounded_schema_limits_items_quotes_and_pages():
    schema = reply_schema(load_task("paper_findings"), page_count=12)
    item = schema["$defs"]["PaperFindingsItem"]
    assert schema["properties"]["items"]["maxItems"] == 25
    assert item["properties"]["quote"]["maxLength"] == 800
    assert (item["properties"]["page_number"]["minimum"], item["properties"]["page_number"]["maximum"]) == (1, 12)
    assert item["properties"]["kind"]["enum"][0] == "research_question"
    # optional fields are required-and-nullable (OpenAI strict mode), and no key beyond the fields
    assert set(item["required"]) == set(item["properties"]) and item["additionalProperties"] is False
    assert {"type": "null"} in item["properties"]["value"]["anyOf"]
    number = next(n for n in item["properties"]["value"]["anyOf"] if n.get("type") == "number")
    assert (number["minimum"], number["maximum"]) == (-1e12, 1e12)  # a decoder can always end a number


def test_a_one_item_task_cites_every_field():
    schema = reply_schema(load_task("contract_terms"), page_count=3)
    law = schema["properties"]["governing_law"]
    assert {"type": "null"} in law["anyOf"]  # not stated → null
    cited = schema["$defs"][law["anyOf"][0]["$ref"].rsplit("/", 1)[1]]
    assert set(cited["properties"]) == {"value", "quote", "page_number"}
    assert cited["properties"]["value"]["maxLength"] == 200
    date = schema["$defs"]["ContractTermsEffectiveDate"]["properties"]["value"]
    assert date["pattern"] == "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def test_the_open_model_checks_types_and_real_dates():
    model = reply_model(load_task("contract_terms"))
    reply = parse_reply(model, json.dumps(TERMS))
    assert reply.governing_law.value == "Delaware"  # type: ignore[attr-defined]
    for field, bad in (("effective_date", "2023-02-29"), ("renewal_notice_days", "sixty"),
                       ("auto_renews", "maybe"), ("parties", "Acme")):
        wrong = dict(TERMS, **{field: {"value": bad, "quote": "q", "page_number": 1}})
        with pytest.raises(ReplyError):
            parse_reply(model, json.dumps(wrong))
    partial = {k: v for k, v in TERMS.items() if v is not None}  # the open model lets absent fields be missing
    assert parse_reply(model, json.dumps(partial)).term is None  # type: ignore[attr-defined]


def test_enums_from_the_checklist_and_hidden_fields():
    clauses = load_task("clauses")
    checklist = (ChecklistItem(name="Governing Law"), ChecklistItem(name="Anti-Assignment"))
    schema = reply_schema(clauses, checklist, page_count=4)
    item = schema["$defs"]["ClausesItem"]["properties"]
    assert item["category"]["enum"] == ["Governing Law", "Anti-Assignment"]
    assert "confidence" not in item  # hidden: never asked of a model
    reply = parse_reply(reply_model(clauses, checklist),
                        '{"clauses": [{"category": "Governing Law", "quote": "q", "page_number": 2, "confidence": 0.5}]}')
    assert reply.clauses[0].confidence == 0.5  # type: ignore[attr-defined]
    with pytest.raises(ReplyError):
        parse_reply(reply_model(clauses, checklist), '{"clauses": [{"category": "Other", "quote": "q", "page_number": 2}]}')
