"""Checks on a model's raw reply, shared by the model engines: reasoning apart from the answer, and
whether the answer is usable (finished, and valid for its task's schema).

Contract: `split_reasoning(text)` → (reasoning or None, answer); `reply_problem(request, text, finish)`
→ None when the reply parses against the request's response model, else why not.
"""

from __future__ import annotations

import json

from pipeline.errors import ConfigError
from pipeline.models import Request
from pipeline.tasks.responses import ReplyError, parse_reply, response_model

THINK_START, THINK_END = "<think>", "</think>"


def split_reasoning(text: str) -> tuple[str | None, str]:
    """Qwen3 thinking output: up to the first `</think>` is reasoning, the rest the answer. The first, not
    the last: vLLM's qwen3 reasoning parser starts the JSON grammar there, and a JSON string of the answer
    may itself contain `</think>`. No `</think>`: the reply never left its reasoning (no answer)."""
    head, sep, tail = text.partition(THINK_END)
    if not sep:
        return (text.replace(THINK_START, "", 1).strip() or None, "") if THINK_START in text else (None, text)
    return head.replace(THINK_START, "", 1).strip(), tail.strip()


def reply_problem(request: Request, text: str, finish_reason: str | None) -> str | None:
    """Why this reply cannot be used, or None."""
    if finish_reason != "stop":
        return f"reply cut off (finish_reason={finish_reason}) at max_tokens"
    if not text.strip():
        return "empty reply (no answer after the reasoning)" if request.thinking else "empty reply"
    try:
        model = response_model(request.task, request.checklist)
    except (ValueError, ConfigError):  # a task this process does not know: JSON is all we can check
        try:
            json.loads(text, strict=False)
        except json.JSONDecodeError as exc:
            return f"reply is not valid JSON ({exc.msg})"
        return None
    try:
        parse_reply(model, text)
    except ReplyError as exc:
        return str(exc)
    return None
