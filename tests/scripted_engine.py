"""A scripted engine for tests and demos: replies are held, calls recorded, replies validated.

Contract: `ScriptedEngine(replies)` answers each request with the first matching script entry —
a key is a request id (`<doc-id>:<task>`; windows: `<doc-id>:<task>:w<window>`; the summary reduce:
`<doc-id>:reduce_summary:r<round>g<group>`), a task name (`reduce_summary` included), or "*" — and
records every request it saw. Streaming (`submit` + `collect`) batches what was submitted together,
as one `generate` call (one entry of `calls`). A reply may be a callable of the request (e.g. one that answers a reduce
request from its `items`).
A reply is a JSON-able object (validated against the task's response model unless `validate=False`), a
raw string (sent as is: use it for truncated or invalid JSON), or a `Completion` (for failures).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Union

from pipeline.engines.base import BatchStreaming, EngineDefaults
from pipeline.models import Completion, Request
from pipeline.tasks.responses import response_model

Reply = Union[str, dict, Completion, Callable[[Request], object]]


class ScriptedEngine(BatchStreaming, EngineDefaults):
    name = "scripted"

    def __init__(self, replies: Mapping[str, Reply], model: str | None = "scripted", validate: bool = True) -> None:
        self.replies = dict(replies)
        self.model = model
        self.validate = validate
        self.calls: list[list[Request]] = []
        self.closed = False

    @property
    def requests(self) -> list[Request]:
        return [r for batch in self.calls for r in batch]

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        self.calls.append(list(requests))
        return [self._answer(r) for r in requests]

    def close(self) -> None:
        self.closed = True

    def _answer(self, request: Request) -> Completion:
        reply = self._lookup(request)
        if callable(reply):
            reply = reply(request)  # type: ignore[assignment]
        if isinstance(reply, Completion):
            return reply.model_copy(update={"request_id": request.request_id})
        if isinstance(reply, str):
            text = reply
        else:
            if self.validate:
                response_model(request.task, request.checklist).model_validate(reply)
            text = json.dumps(reply)
        return Completion(request_id=request.request_id, text=text, finish_reason="stop",
                          prompt_tokens=request.prompt_tokens, output_tokens=len(text) // 4)

    def _lookup(self, request: Request) -> object:
        for key in (request.request_id, request.task, "*"):
            if key in self.replies:
                return self.replies[key]
        raise KeyError(f"scripted engine: no reply for {request.request_id}")
