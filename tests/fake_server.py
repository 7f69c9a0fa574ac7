"""A small model server for the server engine's fault tests: stdlib http.server in a thread on 127.0.0.1.

It speaks the OpenAI chat API (`GET /v1/models`, `POST /v1/chat/completions`) and Ollama's (`POST
/api/show`, `POST /api/chat`), answers with schema-valid JSON, and misbehaves on cue: `script` maps a
marker word (found in the document text of a request) to the steps its requests go through, one per
attempt (the last step repeats): "ok", an HTTP status (429, 503…), "hang" (no answer until the server
stops), "drop" (close the connection unanswered), "not-json" (a 200 whose body is not JSON),
"bad-content" (a valid reply whose message is broken JSON), "length" (cut off at max_tokens), "echo-headers"
(an HTTP 400 whose plain-text body echoes the request's headers, as some proxies and debug servers do),
"echo-content" (a valid reply whose summary point and quote carry the request's headers), and the
malformed model outputs seen from real models: "surrogate" (a summary point with the JSON escape backslash-udaba,
a lone surrogate once decoded), "bad-escape" (an invalid JSON escape, backslash-q), "bad-item" (one item of the
wrong type beside a good one).
Every request is recorded: path, headers, body.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "fake-qwen"
USAGE = {"prompt_tokens": 111, "completion_tokens": 7}  # what the fake says it counted, per request


class FakeServer:
    def __init__(self, script: Mapping[str, Sequence[Any]] | None = None, context: int | None = 32768,
                 delay: float = 0.0) -> None:
        self.script = {marker: list(steps) for marker, steps in (script or {}).items()}
        self.context, self.delay = context, delay
        self.requests: list[dict[str, Any]] = []
        self.attempts: Counter[tuple[str, str]] = Counter()  # (marker, task) → requests received
        self.in_flight = self.most_in_flight = 0
        self.lock, self.stopping = threading.Lock(), threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.httpd.handle_error = _quiet  # type: ignore[method-assign,assignment]  # "drop" breaks pipes on purpose
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def chats(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests if r["path"] in ("/v1/chat/completions", "/api/chat")]

    def step(self, body: dict[str, Any]) -> tuple[str, Any]:
        """The marker of a chat request and what to do with this attempt of it."""
        text = " ".join(m["content"] for m in body["messages"])
        marker = next((m for m in self.script if m in text), "")
        key = (marker, _task(body))
        with self.lock:
            self.attempts[key] += 1
            steps = self.script.get(marker) or ["ok"]
            return marker, steps[min(self.attempts[key], len(steps)) - 1]


def _quiet(request: object, client_address: object) -> None:
    pass


def _schema(body: dict[str, Any]) -> dict[str, Any]:
    return body.get("format") or body["response_format"]["json_schema"]["schema"]


def _task(body: dict[str, Any]) -> str:
    schema = _schema(body)
    if "clauses" in schema["properties"]:
        return "clauses"
    if "points" not in schema["properties"]:
        return "other"  # a task from a task file: answered from its schema
    return "reduce_summary" if "ids" in json.dumps(schema) else "summary"


def schema_reply(schema: dict[str, Any], marker: str) -> Any:
    """A value valid for `schema` (the subset docpipe's task schemas use): every string the marker word
    (which is in the document, so quotes verify), pages 1, numbers their minimum or 1, lists of one item,
    a nullable object given, the first enum value, dates 2024-01-31."""
    defs = schema.get("$defs", {})

    def make(node: dict[str, Any]) -> Any:
        if "$ref" in node:
            return make(defs[node["$ref"].rsplit("/", 1)[1]])
        if "anyOf" in node:
            return make(next(n for n in node["anyOf"] if n.get("type") != "null"))
        if "enum" in node or "const" in node:
            return node["enum"][0] if "enum" in node else node["const"]
        kind = node.get("type")
        if kind == "object":
            return {name: make(prop) for name, prop in node.get("properties", {}).items()}
        if kind == "array":
            return [make(node["items"])]
        if kind == "string":
            return "2024-01-31" if "pattern" in node else marker or "x"
        if kind in ("integer", "number"):
            return node.get("minimum", 1)
        if kind == "boolean":
            return True
        raise ValueError(f"schema_reply: no value for {node}")

    return make(schema)


def _content(body: dict[str, Any], marker: str) -> str:
    if _task(body) == "other":
        return json.dumps(schema_reply(_schema(body), marker))
    if _task(body) == "reduce_summary":  # the window points are listed as P1, P2, …
        return json.dumps({"points": [{"point": f"about {marker}", "ids": ["P1"]}]})
    if _task(body) == "summary":
        return json.dumps({"points": [{"point": f"about {marker}", "quote": marker or "x", "page_number": 1}]})
    return json.dumps({"clauses": []})


def _good_point(marker: str) -> str:
    return json.dumps({"point": f"about {marker}", "quote": marker, "page_number": 1})


MALFORMED = {  # a summary reply's content, as a model may write it
    "surrogate": lambda marker: '{"points": [%s, {"point": "odd \\udaba text", "quote": "%s", "page_number": 1}]}'
                                % (_good_point(marker), marker),
    "bad-escape": lambda marker: '{"points": [{"point": "a \\q b", "quote": "%s", "page_number": 1}]}' % marker,
    "bad-item": lambda marker: '{"points": [%s, {"point": 7, "quote": ["x"], "page_number": "one"}]}'
                               % _good_point(marker),
}


def _handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            self._record(None)
            if self.path == "/v1/models":
                entry: dict[str, Any] = {"id": MODEL, "object": "model"}
                if server.context:
                    entry["max_model_len"] = server.context
                self._json(200, {"object": "list", "data": [entry]})
            else:
                self._json(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            self._record(body)
            if self.path == "/api/show":
                info = {"general.architecture": "qwen3", "qwen3.context_length": server.context}
                self._json(200, {"model_info": info})
            elif self.path in ("/v1/chat/completions", "/api/chat"):
                with server.lock:
                    server.in_flight += 1
                    server.most_in_flight = max(server.most_in_flight, server.in_flight)
                try:
                    self._chat(body)
                finally:
                    with server.lock:
                        server.in_flight -= 1
            else:
                self._json(404, {"error": "not found"})

        def _chat(self, body: dict[str, Any]) -> None:
            marker, step = server.step(body)
            server.stopping.wait(server.delay)
            if isinstance(step, int):
                retry_after = {"Retry-After": "0"} if step == 429 else {}
                self._json(step, {"error": {"message": f"scripted {step}"}}, retry_after)
            elif step == "hang":
                server.stopping.wait(60)
            elif step == "drop":
                self.close_connection = True
                self.connection.shutdown(2)
            elif step == "echo-headers":
                self._raw(400, f"bad request; you sent:\n{self._headers_text()}".encode(), {}, "text/plain")
            elif step == "echo-content":
                echoed = self._headers_text()
                content = json.dumps({"points": [{"point": echoed, "quote": echoed, "page_number": 1}]}
                                     if _task(body) == "summary" else {"clauses": [
                                         {"category": "Governing Law", "quote": echoed, "page_number": 1}]})
                self._json(200, _reply(self.path, content, "stop"))
            elif step == "not-json":
                self._raw(200, b'{"choices": [{"message": ')
            elif step in MALFORMED and _task(body) == "summary":
                self._json(200, _reply(self.path, MALFORMED[step](marker), "stop"))
            else:
                content = '{"points": [{"point": "cut' if step == "bad-content" else _content(body, marker)
                finish = "length" if step == "length" else "stop"
                self._json(200, _reply(self.path, content, finish))

        def _headers_text(self) -> str:
            # The credentials first: a short error body (docpipe keeps ~300 characters of one) still holds them.
            ordered = sorted(self.headers.items(), key=lambda kv: kv[0].lower() != "authorization")
            return "\n".join(f"{name}: {value}" for name, value in ordered)

        def _record(self, body: Any) -> None:
            with server.lock:
                server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})

        def _json(self, status: int, data: Any, headers: Mapping[str, str] = {}) -> None:
            self._raw(status, json.dumps(data).encode(), headers)

        def _raw(self, status: int, payload: bytes, headers: Mapping[str, str] = {},
                 content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

    return Handler


def _reply(path: str, content: str, finish: str) -> dict[str, Any]:
    if path == "/api/chat":
        return {"model": MODEL, "message": {"role": "assistant", "content": content}, "done": True,
                "done_reason": finish, "prompt_eval_count": USAGE["prompt_tokens"],
                "eval_count": USAGE["completion_tokens"]}
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": MODEL, "usage": dict(USAGE),
            "choices": [{"index": 0, "finish_reason": finish,
                         "message": {"role": "assistant", "content": content}}]}
