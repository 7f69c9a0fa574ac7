"""HTTP with bounded retries, for engines that talk to a model server.

Contract: `send(client, method, url, body, policy, what)` returns the first response whose status is not
retryable, after re-sending at most `policy.max_retries` times on 429, 502, 503, 504 and connection
errors, waiting an exponential backoff with jitter (or the server's `Retry-After`, capped) in between. It
raises `HttpFailure` with a sentence saying what went wrong when it gives up, or at once on a timeout (a
request that hung once is not sent again), any other transport error, or when `policy.stop` is set while it
waits. Nothing here logs a header.
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({429, 502, 503, 504})
# The connection failed or dropped: the server is down, restarting or overloaded, so sending again may work.
RETRY_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError,
                httpx.WriteError)


class HttpFailure(Exception):
    """A request that got no usable response; the message says why and after how many attempts."""

    def __init__(self, message: str, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 4
    backoff: float = 1.0
    backoff_max: float = 60.0
    stop: threading.Event = field(default_factory=threading.Event, compare=False)  # set: no more waiting

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before re-send number `retry` (0-based): the server's Retry-After when it gave
        one, else half the exponential step plus a random part of the other half; never over backoff_max."""
        if retry_after is not None:
            return min(self.backoff_max, retry_after)
        step = min(self.backoff_max, self.backoff * 2**retry)
        return step / 2 + random.uniform(0, step / 2)


def send(
    client: httpx.Client, method: str, url: str, body: dict[str, Any] | None, policy: RetryPolicy, what: str
) -> tuple[httpx.Response, int]:
    """The response and the number of attempts it took; see the module docstring."""
    attempts = 0
    while True:
        attempts += 1
        retry_after: float | None = None
        try:
            response = client.request(method, url, json=body)
        except RETRY_ERRORS as exc:
            problem = f"connection error ({type(exc).__name__}: {exc or 'no detail'})"
        except httpx.TimeoutException as exc:
            timeout = client.timeout.read
            raise HttpFailure(f"no reply within the {timeout:g} s request timeout ({type(exc).__name__})",
                              attempts) from exc
        except httpx.HTTPError as exc:
            raise HttpFailure(f"request failed ({type(exc).__name__}: {exc})", attempts) from exc
        else:
            if response.status_code not in RETRY_STATUS:
                return response, attempts
            problem = f"HTTP {response.status_code} ({error_text(response)})"
            retry_after = _retry_after(response)
        if attempts > policy.max_retries:
            raise HttpFailure(f"{problem}; gave up after {attempts} attempts", attempts)
        wait = policy.delay(attempts - 1, retry_after)
        log.warning("%s: %s; retry %d of %d in %.2f s", what, problem, attempts, policy.max_retries, wait)
        if policy.stop.wait(wait):
            raise HttpFailure(f"{problem}; not retried: the engine was closed", attempts)


def error_text(response: httpx.Response, limit: int = 300) -> str:
    """The server's own error message (OpenAI, vLLM and Ollama shapes), else the start of the body."""
    try:
        data = response.json()
    except ValueError:
        data = None
    message: object = None
    if isinstance(data, dict):
        error = data.get("error")
        message = error.get("message") if isinstance(error, dict) else error or data.get("message")
    text = str(message) if message else response.text.strip() or response.reason_phrase
    return text[:limit] + ("…" if len(text) > limit else "")


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds; the HTTP-date form is ignored (the backoff applies)."""
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None
