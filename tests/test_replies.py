"""Reply checks shared by the model engines: reasoning apart from the answer; finished and valid replies."""

from pipeline.engines.replies import reply_problem, split_reasoning
from pipeline.models import ChecklistItem, Message, Request
from pipeline.tasks.responses import json_schema

CHECKLIST = (ChecklistItem(name="Governing Law"),)


def _request(task: str = "clauses", thinking: bool = False) -> Request:
    return Request(request_id="d:" + task, doc_id="d", task=task, route="whole",
                   messages=(Message(role="user", content="x"),), json_schema=json_schema(task, CHECKLIST),
                   max_tokens=100, prompt_tokens=10, thinking=thinking,
                   checklist=CHECKLIST if task == "clauses" else ())


def test_split_reasoning_at_the_first_end_of_thinking():
    assert split_reasoning('<think>\nweigh it\n</think>\n\n{"a": "</think>"}') == ("weigh it", '{"a": "</think>"}')
    assert split_reasoning("<think>never ends") == ("never ends", "")
    assert split_reasoning('{"points": []}') == (None, '{"points": []}')


def test_reply_problems():
    good = '{"clauses":[{"category":"Governing Law","quote":"q\tx","page_number":2}]}'  # raw tab: allowed
    assert reply_problem(_request(), good, "stop") is None
    assert "cut off" in reply_problem(_request(), good[:20], "length")
    other = '{"clauses":[{"category":"Other","quote":"q","page_number":2}]}'
    assert "schema" in reply_problem(_request(), other, "stop")
    assert "not valid JSON" in reply_problem(_request(), '{"clauses": [', "stop")
    assert "no answer after the reasoning" in reply_problem(_request(thinking=True), "", "stop")
    assert reply_problem(_request("summary"), '{"points":[]}', "stop") is None
