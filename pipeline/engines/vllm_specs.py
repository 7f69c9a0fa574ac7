"""Which vLLM engine configuration each request needs, and the settings that go with it. Imports no vllm.

Contract: `group_requests` splits a batch, keeping its order (a document's tasks stay adjacent for prefix
caching), into at most two groups. The unit is a document (a window, for windowed documents): its tasks
share a prefix, so they go to one engine together. Units whose every prompt plus reply fits the native
context (32,768) run on the model's own rope; the rest on one YaRN engine with the smallest factor (2 or 4
over the native context) that holds the largest of them, and a `max_model_len` that is what the group
needs — its largest prompt plus the room of a retry — never more than `largest` (≤ 131,072). A request
that fits no engine is rejected here, so it is never submitted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipeline.config import RunConfig
from pipeline.models import Request

log = logging.getLogger(__name__)

YARN_FACTORS = (2.0, 4.0)
QWEN3_ROPE_THETA = 1_000_000.0
# Qwen's advice per mode (no greedy decoding in thinking mode).
SAMPLING = {
    False: {"temperature": 0.7, "top_p": 0.8, "top_k": 20, "min_p": 0.0},
    True: {"temperature": 0.6, "top_p": 0.95, "top_k": 20, "min_p": 0.0},
}


@dataclass(frozen=True)
class EngineSpec:
    """One engine configuration: the rope it uses and the longest sequence it must hold."""

    rope: Literal["native", "yarn"]
    max_model_len: int
    factor: float | None = None

    def serves(self, wanted: EngineSpec) -> bool:
        """Whether an engine built for `self` can run the requests `wanted` was computed for."""
        return (self.rope, self.factor) == (wanted.rope, wanted.factor) and self.max_model_len >= wanted.max_model_len

    def __str__(self) -> str:
        rope = "native rope" if self.rope == "native" else f"YaRN x{self.factor:g}"
        return f"{rope}, max_model_len {self.max_model_len}"


@dataclass(frozen=True)
class Limits:
    """The context sizes a run allows: `native` (the model's own rope), `largest` (with YaRN)."""

    native: int
    largest: int
    retry_room: float = 2.0  # a retry gets this many times the request's max_tokens

    @classmethod
    def of(cls, config: RunConfig) -> Limits:
        largest = min(config.max_context, int(YARN_FACTORS[-1] * config.native_context))
        room = 2.0 if config.engine_settings.retries > 0 else 1.0
        return cls(native=config.native_context, largest=max(largest, config.native_context), retry_room=room)


@dataclass(frozen=True)
class Group:
    spec: EngineSpec
    indices: tuple[int, ...]


def need(request: Request) -> int:
    """Tokens a request occupies: its prompt plus the room for its reply."""
    return request.prompt_tokens + request.max_tokens


def group_requests(requests: Sequence[Request], limits: Limits) -> tuple[list[Group], dict[int, str]]:
    """The native group and the YaRN group (each only when it has requests), and the rejected requests by
    index with the reason."""
    unit_need: dict[tuple[str, int | None], int] = {}
    for r in requests:
        if need(r) <= limits.largest:
            unit_need[r.doc_id, r.window] = max(unit_need.get((r.doc_id, r.window), 0), need(r))
    fits = [i for i, r in enumerate(requests) if need(r) <= limits.largest]
    native = [i for i in fits if unit_need[requests[i].doc_id, requests[i].window] <= limits.native]
    yarn = [i for i in fits if unit_need[requests[i].doc_id, requests[i].window] > limits.native]
    rejected = {
        i: f"prompt of {r.prompt_tokens} tokens + {r.max_tokens} for the reply exceeds the largest engine "
           f"context ({limits.largest} tokens); not submitted"
        for i, r in enumerate(requests) if need(r) > limits.largest
    }
    groups = [Group(EngineSpec("native", limits.native), tuple(native))] if native else []
    if yarn:
        groups.append(Group(yarn_spec([requests[i] for i in yarn], limits), tuple(yarn)))
    return groups, rejected


def yarn_spec(requests: Sequence[Request], limits: Limits) -> EngineSpec:
    """The smallest YaRN factor that holds every request, and the context the group needs."""
    largest_need = max(need(r) for r in requests)
    factor = next((f for f in YARN_FACTORS if f * limits.native >= largest_need), YARN_FACTORS[-1])
    cap = min(int(factor * limits.native), limits.largest)
    wanted = max(r.prompt_tokens + int(r.max_tokens * limits.retry_room) for r in requests)
    return EngineSpec("yarn", min(wanted, cap), factor)


def largest_yarn(limits: Limits) -> EngineSpec:
    """The one YaRN engine of a streamed run: sized for the longest context the run allows, so documents
    planned later, whatever their length, run on it without another engine start."""
    factor = next((f for f in YARN_FACTORS if f * limits.native >= limits.largest), YARN_FACTORS[-1])
    return EngineSpec("yarn", limits.largest, factor)


def rope_overrides(spec: EngineSpec, native: int, rope_theta: float) -> dict:
    """`hf_overrides` for a YaRN engine (vLLM 0.24–0.33: without `max_position_embeddings` vLLM ≥ 0.30
    silently caps the context); none for native rope."""
    if spec.rope == "native":
        return {}
    rope = {"rope_type": "yarn", "factor": spec.factor, "original_max_position_embeddings": native,
            "rope_theta": rope_theta}
    return {"rope_parameters": rope, "max_position_embeddings": spec.max_model_len}


def model_rope_theta(model: str) -> float:
    """rope_theta from the model's config.json (a local folder, else the Hugging Face cache; never the
    network); Qwen3's 1,000,000 when there is none."""
    path = Path(model) / "config.json"
    if not path.is_file():
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(model, "config.json")
            path = Path(cached) if isinstance(cached, str) else path
        except (ImportError, ValueError):  # ValueError: not a valid repository id
            pass
    if not path.is_file():
        log.warning("no config.json for %s: YaRN uses Qwen3's rope_theta %g", model, QWEN3_ROPE_THETA)
        return QWEN3_ROPE_THETA
    config = json.loads(path.read_text(encoding="utf-8"))
    theta = config.get("rope_theta") or (config.get("rope_parameters") or {}).get("rope_theta")
    return float(theta or QWEN3_ROPE_THETA)
