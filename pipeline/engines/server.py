"""The server engine: requests to a running model server over HTTP (vLLM serve, SGLang, Ollama, or any
OpenAI-compatible endpoint), `settings.concurrency` at a time.

Contract: `ServerEngine(config)` connects at once: it reads the served model (the only one, when `--model`
is not given) and the context length where the server says it (vLLM/SGLang: `GET /models`
`max_model_len`; Ollama: `POST /api/show`), and raises `EngineError` when the server cannot be reached or
`ConfigError` when the configuration cannot work. `context_limit()` is that length (None when the server
does not say it): the runner plans within it, so no prompt is sent that the server would cut or refuse;
a request that still would not fit is failed here, unsent. `generate` never raises for one request: a
request that fails (after bounded retries, see `http.send`) comes back with `error` set, saying why.
Streaming: `submit` hands requests to `settings.concurrency` sender threads at once; `collect` returns the
replies as they arrive, so the runner writes each document as its own replies are in.

The API key is read from the environment (the variable `settings.api_key_env`, else `DOCPIPE_API_KEY` or
`OPENAI_API_KEY`, see `pipeline.secrets`) into the client's Authorization header and nowhere else: it is
never logged, stored on the engine or written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from urllib.parse import urlsplit

import httpx

from pipeline.config import RunConfig, ServerSettings
from pipeline.engines.base import EngineDefaults, generate_streamed
from pipeline.engines.http import HttpFailure, RetryPolicy, error_text, send
from pipeline.engines.server_api import chat_body, chat_path, ollama_context, read_completion, served_models
from pipeline.errors import ConfigError, EngineError
from pipeline.models import Completion, Request
from pipeline.secrets import API_KEY_VARS, api_key, remember

log = logging.getLogger(__name__)

BAD_REPLY = (KeyError, IndexError, TypeError, AttributeError, ValueError)


class ServerEngine(EngineDefaults):
    name = "server"
    model: str | None

    def __init__(self, config: RunConfig) -> None:
        settings = config.server
        if not settings.base_url:
            raise ConfigError("--engine server needs --base-url (or DOCPIPE_BASE_URL), e.g. http://127.0.0.1:8000/v1")
        self.kind = settings.server_kind
        self.base_url = api_root(settings.base_url, self.kind)
        self.thinking, self.seed = config.thinking, config.engine_settings.seed
        self.policy = RetryPolicy(settings.max_retries, settings.backoff, settings.backoff_max)
        self.concurrency = settings.concurrency
        self._client = httpx.Client(
            headers=_auth_headers(settings), timeout=httpx.Timeout(settings.request_timeout),
            limits=httpx.Limits(max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency),
        )
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="docpipe-http")
        self._pending: set[Future[Completion]] = set()
        try:
            self.model, self._context = self._discover(config.model)
        except BaseException:
            self._client.close()
            self._pool.shutdown(wait=False)
            raise
        log.info("server %s (%s): model %s, context %s", self.base_url, self.kind, self.model,
                 self._context or "not said")

    def context_limit(self) -> int | None:
        """The longest prompt + reply the server takes, as it says; None when it does not say."""
        return self._context

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        return generate_streamed(self, requests, "the server returned no completion")

    def submit(self, requests: Sequence[Request]) -> None:
        for request in requests:
            self._pending.add(self._pool.submit(self._guarded, request))

    def collect(self) -> list[Completion]:
        if not self._pending:
            return []
        try:
            finished, self._pending = wait(self._pending, return_when=FIRST_COMPLETED)
        except BaseException:  # Ctrl-C: drop the queued requests; close() ends the ones in flight
            for future in self._pending:
                future.cancel()
            raise
        return [future.result() for future in finished]  # _guarded never raises for one request

    def close(self) -> None:
        self.policy.stop.set()
        for future in self._pending:
            future.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def _guarded(self, request: Request) -> Completion:
        """`_complete`, with anything unexpected turned into that request's failure."""
        started = time.perf_counter()
        try:
            return self._complete(request)
        except Exception as exc:  # noqa: BLE001 - one request's problem, never the run's
            return _failed(request, f"unexpected error: {type(exc).__name__}: {exc}", started)

    def _complete(self, request: Request) -> Completion:
        started = time.perf_counter()
        if self._context and request.prompt_tokens + request.max_tokens > self._context:
            return _failed(request, f"prompt of {request.prompt_tokens} tokens + {request.max_tokens} for the reply "
                                    f"exceeds the server's context of {self._context}; not sent", started)
        body = chat_body(self.kind, str(self.model), request, self.thinking, self.seed, self._context)
        try:
            response, attempts = send(self._client, "POST", self.base_url + chat_path(self.kind), body, self.policy,
                                      request.request_id)
        except HttpFailure as exc:
            return _failed(request, f"server request failed: {exc}", started)
        if not response.is_success:
            tries = f" (after {attempts} attempts)" if attempts > 1 else ""
            return _failed(request, f"server answered HTTP {response.status_code}{tries}: {error_text(response)}",
                           started)
        try:
            completion = read_completion(self.kind, request, response.json())
        except BAD_REPLY as exc:
            return _failed(request, f"server reply is not a chat completion ({type(exc).__name__}: {exc}): "
                                    f"{response.text[:200]!r}", started)
        return completion.model_copy(update={"seconds": time.perf_counter() - started})

    def _discover(self, model: str | None) -> tuple[str, int | None]:
        """The model to ask for and its context length, from the server (see the module docstring)."""
        if self.kind == "ollama":
            if not model:
                raise ConfigError("--server-kind ollama needs --model (an Ollama model name, e.g. qwen3:8b)")
            data = self._ask("POST", "/api/show", {"model": model}, f"model {model!r} on the Ollama server")
            return model, ollama_context(data) if data is not None else None
        data = self._ask("GET", "/models", None, "the served models")
        served = served_models(data) if isinstance(data, dict) else {}
        if model is None:
            if len(served) != 1:
                raise ConfigError(f"the server serves {sorted(served) or 'no listed model'}: choose one with --model")
            model = next(iter(served))
        elif served and model not in served:
            raise ConfigError(f"the server does not serve {model!r}; it serves {sorted(served)}")
        return model, served.get(model)

    def _ask(self, method: str, path: str, body: dict | None, what: str) -> object:
        """A metadata request: its JSON, or None (with a warning) when the server does not answer it."""
        try:
            response, _ = send(self._client, method, self.base_url + path, body, self.policy, what)
        except HttpFailure as exc:
            raise EngineError(f"cannot reach the model server at {self.base_url}: {exc}") from exc
        if response.status_code == 404 and self.kind == "ollama":
            raise ConfigError(f"{what}: {error_text(response)}")
        try:
            if response.is_success:
                return response.json()
            problem = f"HTTP {response.status_code}: {error_text(response)}"
        except ValueError as exc:
            problem = f"not JSON: {exc}"
        log.warning("%s: no usable answer from %s (%s); the context length is not known, so --max-context "
                    "alone decides the routes", what, path, problem)
        return None


def api_root(base_url: str, kind: str) -> str:
    """The URL the API paths hang from. OpenAI kinds: as given to OpenAI clients (…/v1), `/v1` added when the
    URL has no path; Ollama: the server's root (a trailing /v1 is dropped: the native API is not under it)."""
    url = base_url.rstrip("/")
    if kind == "ollama":
        return url.removesuffix("/v1")
    return url if urlsplit(url).path else url + "/v1"


def _auth_headers(settings: ServerSettings) -> dict[str, str]:
    """The bearer header, from the environment only; the value is also handed to `secrets.remember`, so a key
    in a variable of the user's choosing is redacted from log lines like the usual ones."""
    names = (settings.api_key_env,) if settings.api_key_env else API_KEY_VARS
    key = api_key(names)
    if key is None:
        if settings.api_key_env:
            raise ConfigError(f"--api-key-env {settings.api_key_env}: that environment variable is not set")
        return {}
    remember(key)
    return {"Authorization": f"Bearer {key.get_secret_value()}"}


def _failed(request: Request, message: str, started: float) -> Completion:
    log.info("%s: %s", request.request_id, message)
    return Completion(request_id=request.request_id, error=message, seconds=time.perf_counter() - started)
