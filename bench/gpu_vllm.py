"""GPU benchmark of the vLLM engine: the real pipeline (`engine="vllm"`) against raw `LLM.chat` on the
identical prompts, with dummy weights of a real model shape (e.g. Qwen3-14B: config.json + tokenizer files,
`--load-format dummy`).

Two steps:
  python bench/gpu_vllm.py docs DOCS_DIR                 # ≥ 50 PDFs of 8k–120k tokens, one folder per route
  python bench/gpu_vllm.py run --model DIR --docs DOCS_DIR --out RESULTS --json BENCH.json [--groups native,yarn]
                               [--load-format dummy] [--enforce-eager]
  python bench/gpu_vllm.py summarise BENCH.json [BENCH2.json …]   # the ratios, over the groups of all files
  python bench/gpu_vllm.py rows --model DIR --docs FOLDER --json ROW.json [--quantization fp8] [--kv-cache-dtype fp8]
                               [--repeat 2]   # one configuration row: raw vLLM only, no pipeline pass
  python bench/gpu_vllm.py nightly-docs SOURCE FOLDER --count 200   # a nightly batch: PDFs + page-rotated copies
  python bench/gpu_vllm.py run … --docs PARENT --groups FOLDER --steps none --json PIPE.json   # pipeline alone
  python bench/gpu_vllm.py raw --model DIR --docs PARENT/FOLDER --json RAW.json --pipeline PIPE.json
                               # raw vLLM in a process of its own, starts included, against that pipeline run

`run` takes each route folder in turn (native: documents that fit 32,768 tokens; yarn: the rest) and, in
one process and on one engine per folder:
  1. pipeline: `pipeline.run.core.run` over the folder (ingest, plan, engine, parse, cite, write);
  2. raw: prefix cache reset, `LLM.chat` on the very requests the pipeline sent, same sampling parameters;
     then (cache reset) the engine once more on the same requests, warm, as raw is (`engine_warm`);
  3. summary only: cache reset, raw `LLM.chat` on the summary requests alone (cost of both tasks vs one);
  4. prefill: cache reset, the folder's longest prompt alone with max_tokens=1 (prompt tokens/s);
  5. with --fresh-raw: a new engine of the same configuration, then raw `LLM.chat` on the same requests, so
     that raw vLLM is timed as cold as the pipeline's first call (step 2 runs on an engine that has done a
     whole pass already).
Running the two folders as two pipeline runs gives the same engine starts as one run over all 50
documents (native engine, then YaRN engine) and lets steps 2–4 reuse each engine. The first group's run builds
the engine where `docpipe run` does — `vllm` imported while the readers read the first documents — and the
import counts as an engine start (before 2026-12-03 17:00 the bench imported it before its clock, which put
the first plan's seconds inside the measured wall). Retries are off (with dummy weights a retry would
only decode more noise). Dummy weights under the JSON grammar close their reply after a random number of
tokens (~280 on average, a few run to max_tokens), so reply lengths are not real ones: vLLM 0.24 cannot force
them under a grammar (`ignore_eos` ends the request with an error one token after the JSON closes,
v1/core/sched/scheduler.py), and `--per-request-seeds` makes both passes decode the same ones.
`--force-reply-lengths` turns the grammar off and EOS too, so every reply decodes exactly its room on both
sides; the pipeline then parses and cites, in place of each reply's noise, the model-free engine's reply to
the same request (made before the clock; the decoded token count stays vLLM's). Peak GPU
memory is polled with NVML. BENCH.json is rewritten after every group; the groups can also run in separate
processes (`--groups native`, then `--groups yarn`) and be summarised together.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.config import EngineSettings, RunConfig  # noqa: E402
from pipeline.engines.vllm import VLLMEngine  # noqa: E402
from pipeline.models import Completion, Request  # noqa: E402
from pipeline.run.core import run as run_pipeline  # noqa: E402
from pipeline.plan.tokens import bundled_tokenizer_dir, load_tokenizer  # noqa: E402

log = logging.getLogger("bench")

# document text tokens: 42 that fit the native context (most of them short, as contracts are), 8 that need YaRN
NATIVE_TOKENS = [8_000 + 64 * i for i in range(32)] + [11_000 + 1_400 * i for i in range(9)] + [28_500]
YARN_TOKENS = [34_000, 38_000, 42_000, 48_000, 56_000, 70_000, 92_000, 120_000]
WORDS = ("agreement party parties shall may term payment licence license clause notice breach indemnify warranty "
         "liability confidential information governing law section exhibit schedule services products supplier "
         "customer territory exclusive nonexclusive right rights obligation obligations effective date termination "
         "renewal fee fees royalty invoice days written consent assign assignment affiliate affiliates control "
         "insurance audit records dispute arbitration court jurisdiction property intellectual trademark patent "
         "deliver delivery goods price quantity order purchase minimum maximum damages limitation cap event force "
         "majeure compliance applicable laws regulations employee personnel subcontract representation covenant "
         "competition solicit period year month quarter annual report data security breach cure material").split()


# -- step 0: documents ---------------------------------------------------------------------------------------
def make_docs(folder: Path, seed: int = 0, scale: float = 1.0, per_group: int | None = None) -> None:
    """PDFs whose text has the target token counts (±1%), in folder/native and folder/yarn; `scale` and
    `per_group` shrink the set for a trial run on a CPU."""
    from fpdf import FPDF

    tokenizer = load_tokenizer(bundled_tokenizer_dir())
    manifest = {}
    for group, targets in (("native", NATIVE_TOKENS), ("yarn", YARN_TOKENS)):
        for index, target in enumerate(int(t * scale) for t in targets[:per_group]):
            rng = random.Random(f"{seed}-{group}-{index}")
            pages, tokens = [], 0
            while tokens < target:
                text = _page_text(rng, min(1_400, max(50, int((target - tokens) / 1.25))))
                pages.append(text)
                tokens += tokenizer.count(text)
            pdf = FPDF(format="A4")
            pdf.set_auto_page_break(False)
            pdf.set_font("Helvetica", size=6)
            for text in pages:
                pdf.add_page()
                pdf.set_xy(5, 5)
                pdf.multi_cell(200, 2.6, text)
            path = folder / group / f"{group}-{index:02d}.pdf"
            path.parent.mkdir(parents=True, exist_ok=True)
            pdf.output(str(path))
            manifest[path.name] = {"text_tokens": tokens, "pages": len(pages)}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
    print(f"{len(manifest)} documents, {sum(m['text_tokens'] for m in manifest.values())} text tokens in {folder}")


def _page_text(rng: random.Random, words: int) -> str:
    out, sentence = [], 0
    for i in range(words):
        word = rng.choice(WORDS)
        out.append(word.capitalize() if sentence == 0 else word)
        sentence += 1
        if sentence > rng.randint(8, 24):
            out[-1] += "." if rng.random() < 0.8 else f" {rng.randint(1, 99)}."
            sentence = 0
    return " ".join(out) + "."


# -- measuring -----------------------------------------------------------------------------------------------
class GpuMemory:
    """Peak used GPU memory (all processes: vLLM's engine core is another process), polled with NVML."""

    def __init__(self, interval: float = 0.25) -> None:
        self.peak_bytes, self.total_bytes, self.name, self._stop = 0, 0, "no GPU", threading.Event()
        self.busy: list[tuple[float, int]] = []  # (perf_counter, GPU utilisation %): is the GPU ever left idle?
        try:
            import pynvml

            pynvml.nvmlInit()
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            self._nvml = pynvml
            self.total_bytes = pynvml.nvmlDeviceGetMemoryInfo(self._handle).total
            self.name = str(pynvml.nvmlDeviceGetName(self._handle))
            threading.Thread(target=self._poll, args=(interval,), daemon=True).start()
        except Exception as exc:  # no GPU or no NVML (a CPU trial run): no memory figure
            log.warning("no GPU memory polling: %s", exc)

    def _poll(self, interval: float) -> None:
        while not self._stop.is_set():
            used = self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used
            self.peak_bytes = max(self.peak_bytes, used)
            self.busy.append((time.perf_counter(), self._nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu))
            time.sleep(interval)

    def stop(self) -> None:
        self._stop.set()

    def idle_share(self, start: float, end: float) -> float | None:
        """Share of the polls between `start` and `end` (perf_counter) that found the GPU at 0% (NVML's
        utilisation: the share of its last sample period in which any kernel ran)."""
        polls = [u for t, u in self.busy if start <= t <= end]
        return round(sum(u == 0 for u in polls) / len(polls), 3) if polls else None


class KeptEngine(VLLMEngine):
    """The pipeline's engine, kept open after a run (the runner closes its engine) and recording requests.

    `seeded` (bench only, `--per-request-seeds`): every request samples with a seed of its own, taken from its
    id, so the pipeline's pass and raw vLLM's — same requests, same parameters — decode the same replies (up to
    batch numerics). Without it, dummy weights close their JSON after a random number of tokens, and the two
    passes decode different amounts (27,702 against 34,624 output tokens in one run): a ratio of tokens per
    second then measures the dice as much as the pipeline. Both passes take vLLM's seeded sampling path."""

    seeded = False
    # `--force-reply-lengths` (bench only): every reply decodes exactly its room, as real replies of those
    # lengths would — without the JSON grammar, which vLLM 0.24 will not run past the JSON's end. The
    # pipeline could not parse such noise: in `run`, each finished reply's text is replaced by `replies`' valid
    # one for its request (the model-free engine's, made before the clock) while its decoded tokens stay
    # vLLM's, so the pipeline parses and cites real quotes after vLLM decoded a reply of real length.
    forced_lengths = False
    replies: dict[str, str] = {}
    substituted = 0  # replies replaced so far (the bench reports it: every request of the pass should be)

    def __init__(self, config: RunConfig) -> None:
        t0 = time.perf_counter()
        super().__init__(config)  # imports vllm.LLM
        self.import_s = time.perf_counter() - t0
        self.received: list[Request] = []
        self.generate_at: list[float] = []  # when each submit began (perf_counter): the runner streams
        self.collected_at: list[float] = []  # when each collect returned completions
        self.warm_up_at: list[float] = []  # when the runner handed over the first plan (the engine starts then)
        self.in_vllm: list[tuple[float, int, int]] = []  # at each collect: (perf_counter, requests in vLLM, queued)

    def sampling(self, request: Request, max_tokens: int) -> Any:
        params = super().sampling(request, max_tokens)
        if self.seeded:
            params.seed = zlib.crc32(request.request_id.encode())
        if self.forced_lengths:
            params.structured_outputs, params.ignore_eos = None, True
        return params

    def _finish(self, output: Any) -> None:
        live = self._live.get(self._live_key(output))
        text = self.replies.get(live.request.request_id) if live is not None else None
        if self.forced_lengths and text is not None:
            reply = output.outputs[0]  # vLLM's CompletionOutput: its token_ids (the decoded length) are kept
            reply.text, reply.finish_reason = text, "stop"
            KeptEngine.substituted += 1  # the class's count: the bench reads it, as it sets `replies`
        super()._finish(output)

    def submit(self, requests: Any) -> None:
        self.received += list(requests)
        self.generate_at.append(time.perf_counter())
        super().submit(requests)

    def warm_up(self, requests: Any) -> None:
        self.warm_up_at.append(time.perf_counter())
        super().warm_up(requests)

    def collect(self) -> Any:
        done = super().collect()
        if done:
            self.collected_at.append(time.perf_counter())
        self.in_vllm.append((time.perf_counter(), len(self._live), len(self._queue)))
        return done

    def close(self) -> None:
        pass

    def really_close(self) -> None:
        super().close()

    def restart(self) -> float:
        """Replace the engine by a new one of the same configuration: a new engine-core process, so nothing
        is warm but what vLLM caches on disk, as for a script that builds its own `LLM`. Its start's seconds."""
        spec = self._spec
        assert spec is not None, "no engine to restart"
        self._free()
        self._engine(spec)
        return self.builds[-1].seconds


@dataclass
class Pass:
    seconds: float
    prompt_tokens: int
    output_tokens: int
    requests: int
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        tokens = self.prompt_tokens + self.output_tokens
        return {"seconds": round(self.seconds, 2), "prompt_tokens": self.prompt_tokens,
                "output_tokens": self.output_tokens, "requests": self.requests,
                "tokens_per_s": round(tokens / self.seconds, 1) if self.seconds else None, **self.extra}


def raw_chat(engine: KeptEngine, requests: list[Request], max_tokens: int | None = None,
             memory: GpuMemory | None = None) -> Pass:
    """vLLM alone: one `LLM.chat` over the requests, same conversations and sampling, prefix cache reset."""
    llm = engine.llm
    llm.reset_prefix_cache()
    params = [engine.sampling(r, max_tokens or r.max_tokens) for r in requests]
    conversations = [[m.model_dump() for m in r.messages] for r in requests]
    t0 = time.perf_counter()
    outputs = llm.chat(conversations, params, use_tqdm=False, chat_template_kwargs={"enable_thinking": False})
    seconds = time.perf_counter() - t0
    extra = {"gpu_idle_share": memory.idle_share(t0, t0 + seconds)} if memory is not None else {}
    return Pass(seconds, sum(len(o.prompt_token_ids) for o in outputs),
                sum(len(o.outputs[0].token_ids) for o in outputs), len(requests), extra)


def engine_pass(engine: KeptEngine, requests: list[Request]) -> Pass:
    """The engine's `generate` (grouping, guards, checks) on requests it has seen, prefix cache reset."""
    if engine.llm is not None:
        engine.llm.reset_prefix_cache()
    t0 = time.perf_counter()
    done = engine.generate(requests)
    seconds = time.perf_counter() - t0
    return Pass(seconds, sum(c.prompt_tokens or 0 for c in done), sum(c.output_tokens or 0 for c in done), len(done))


ALL_STEPS = ("raw", "engine_warm", "summary_only", "prefill_all", "prefill_longest")


def timeline(engine: KeptEngine, t0: float, points: int = 240) -> list[tuple[float, int, int]]:
    """At most `points` of the engine's (seconds after t0, requests in vLLM, requests queued) at its collects,
    evenly thinned: does the core keep vLLM fed (raw `LLM.chat` has every request in vLLM from its start)?"""
    rows = engine.in_vllm
    step = max(1, len(rows) // points)
    return [(round(t - t0, 2), live, queued) for t, live, queued in rows[::step] + rows[-1:]]


def measure_group(name: str, folder: Path, out: Path, engine: KeptEngine | None, config: RunConfig,
                  fresh_raw: bool = False, steps: tuple[str, ...] = ALL_STEPS,
                  memory: GpuMemory | None = None) -> tuple[dict[str, Any], KeptEngine]:
    """Steps 1–4 (and 5 with `fresh_raw`) for one route folder; without "raw" in `steps`, the pipeline pass
    alone (its raw counterpart timed by the `raw` subcommand, in another process). `engine` None: the run
    builds it as `docpipe run` does — `vllm` imported while the reader processes read the first documents,
    so that the first plan is ready when the import is done — and the import counts as a start. The result,
    and the engine (kept for the next group)."""
    built: list[KeptEngine] = []
    built_by_run = engine is None
    if built_by_run:
        import pipeline.run.core as core

        def create(config: RunConfig) -> KeptEngine:
            built.append(KeptEngine(config))
            return built[-1]

        core.create_engine = create  # type: ignore[assignment]  # the runner's own moment, the bench's class
    else:
        built.append(engine)
        for kept in (engine.received, engine.generate_at, engine.collected_at, engine.warm_up_at, engine.in_vllm):
            kept.clear()
    builds, calls = (len(engine.builds), len(engine.calls)) if engine is not None else (0, 0)
    if KeptEngine.forced_lengths:  # before the clock: the valid text each forced-length reply is given
        KeptEngine.replies, KeptEngine.substituted = model_free_replies(folder, config), 0
    written: list[float] = []  # when each document's result was written: results appear during the run
    t0 = time.perf_counter()
    report = run_pipeline([folder], out / name, config, engine=engine,
                          on_result=lambda _: written.append(time.perf_counter() - t0))
    wall = time.perf_counter() - t0
    engine = built[0]
    first_generate = engine.generate_at[0] - t0 if engine.generate_at else None
    sent = list(engine.received)
    build_s = sum(b.seconds for b in engine.builds[builds:])
    chat_s = sum(c.seconds for c in engine.calls[calls:])
    ingest_plan = sum(d.seconds.get("ingest", 0) + d.seconds.get("plan", 0) for d in report.documents)
    pipeline = Pass(wall, int(report.totals["engine_prompt_tokens"]), int(report.totals["output_tokens"]), len(sent), {
        "documents": len(report.documents), "engine_start_s": round(build_s, 1), "llm_chat_s": round(chat_s, 2),
        # per document, summed over the reader processes (they work side by side, and beside the engine start)
        "ingest_plan_s_summed": round(ingest_plan, 1),
        "first_generate_after_s": round(first_generate, 1) if first_generate is not None else None,
        # the engine starts once the first document is planned (the configuration it needs is known then)
        "first_plan_after_s": round(engine.warm_up_at[0] - t0, 1) if engine.warm_up_at else None,
        "first_result_after_s": round(written[0], 1) if written else None,
        "half_results_after_s": round(written[len(written) // 2], 1) if written else None,
        "other_s": round(wall - build_s - chat_s, 1),  # wall time neither starting the engine nor in LLM.chat
        # after vLLM's last reply: the last documents' parse, cite, merge and write, the review, run_report
        "after_last_reply_s": round(t0 + wall - engine.collected_at[-1], 1) if engine.collected_at else None,
        "assemble_s_summed": round(sum(d.seconds.get("assemble", 0) for d in report.documents), 1),
        "engines": [{"spec": str(b.spec), "max_model_len": b.max_model_len, "start_s": round(b.seconds, 1)}
                    for b in engine.builds[builds:]],
        "attempts": sum(d.usage.get("attempts", 0) for d in report.documents),
        # --force-reply-lengths: replies whose noise was replaced by the model-free engine's valid text
        "replies_substituted": KeptEngine.substituted if KeptEngine.forced_lengths else None,
        "statuses": dict(Counter(d.status for d in report.documents)),
        # where the time went: is vLLM ever short of requests, is the GPU ever idle while the core works?
        "results_written_at_s": [round(w, 1) for w in written],
        "in_vllm_at_collects": timeline(engine, t0),
        "gpu_idle_share_after_first_generate": memory.idle_share(engine.generate_at[0], t0 + wall)
        if memory is not None and engine.generate_at else None,
    })
    result: dict[str, Any] = {"pipeline": pipeline.as_dict()}
    result["documents_per_hour_without_starts"] = round(len(report.documents) * 3600 / max(wall - build_s, 1e-9))
    if built_by_run:  # its import was inside the pipeline's clock
        result["pipeline"]["engine_import_s"] = round(engine.import_s, 1)
        result["pipeline"]["import_inside_wall"] = True
    if "raw" not in steps:
        return result, engine
    result["raw"] = raw_chat(engine, sent, memory=memory).as_dict()
    if "engine_warm" in steps:
        result["engine_warm"] = engine_pass(engine, sent).as_dict()
    if "summary_only" in steps:
        result["summary_only"] = raw_chat(engine, [r for r in sent if r.task == "summary"]).as_dict()
    if "prefill_all" in steps:  # the same prompts with a 1-token reply: what of raw's time is prefill
        prefill_all = raw_chat(engine, sent, max_tokens=1)
        result["prefill_all"] = {**prefill_all.as_dict(),
                                 "share_of_raw_seconds": round(prefill_all.seconds / result["raw"]["seconds"], 3)}
        decode_s = result["raw"]["seconds"] - prefill_all.seconds
        result["decode_output_tokens_per_s"] = round(result["raw"]["output_tokens"] / max(decode_s, 1e-9))
    if "prefill_longest" in steps:
        longest = max(sent, key=lambda r: r.prompt_tokens)
        prefill = raw_chat(engine, [longest], max_tokens=1)
        rate = round(prefill.prompt_tokens / prefill.seconds)
        result["prefill_longest"] = {**prefill.as_dict(), "prompt_tokens_per_s": rate}
    if fresh_raw:  # raw vLLM as cold as the pipeline's first call was: a new engine, then the same requests
        start_s = engine.restart()
        result["raw_fresh"] = {**raw_chat(engine, sent, memory=memory).as_dict(), "engine_start_s": round(start_s, 1)}
    return result, engine


def wall_with_import(pipeline: dict[str, Any]) -> float:
    """A pipeline pass's wall seconds with the `vllm` import in them: inside its clock since 2026-12-03 17:00
    (`import_inside_wall`), before it in older files."""
    inside = pipeline.get("import_inside_wall")
    return pipeline["seconds"] + (0 if inside else pipeline.get("engine_import_s", 0))


def summarise(groups: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The issue's ratios over the groups together."""
    def total(step: str, key: str) -> float:
        return sum(g[step][key] for g in groups.values())

    tokens = total("pipeline", "prompt_tokens") + total("pipeline", "output_tokens")
    raw_tokens = total("raw", "prompt_tokens") + total("raw", "output_tokens")
    raw_tps = raw_tokens / total("raw", "seconds")
    engine_s = sum(g["pipeline"]["llm_chat_s"] for g in groups.values())
    # the `vllm.LLM` import counts as a start; in files before 2026-12-03 17:00 it ran before the group's clock
    # (its first plan then came after it: 2.2–2.5 s more wall), since then inside it, beside the readers
    imports = sum(g["pipeline"].get("engine_import_s", 0) for g in groups.values())
    wall = sum(wall_with_import(g["pipeline"]) for g in groups.values())
    starts = sum(g["pipeline"]["engine_start_s"] for g in groups.values()) + imports
    warm_tps, fresh_tps = _step_tps(groups, "engine_warm"), _step_tps(groups, "raw_fresh")
    return {
        "engine_vs_raw": round(tokens / engine_s / raw_tps, 3),  # LLM.chat calls as the engine makes them
        "engine_warm_vs_raw": round(warm_tps / raw_tps, 3) if warm_tps else None,
        "pipeline_vs_raw_without_engine_starts": round(tokens / (wall - starts) / raw_tps, 3),
        "pipeline_vs_raw_with_engine_starts": round(tokens / wall / raw_tps, 3),
        # the pipeline's first calls are on a new engine: so are raw vLLM's here
        "pipeline_vs_raw_on_a_new_engine_without_engine_starts":
            round(tokens / (wall - starts) / fresh_tps, 3) if fresh_tps else None,
        # both sides pay their engine's start: raw's is a new engine of the same configuration (vLLM's compile
        # cache on disk by then warm, as on a host that runs every night); the pipeline's also has the import
        "pipeline_vs_raw_on_a_new_engine_with_engine_starts": _with_starts(groups, tokens, wall),
        **_both_tasks(groups),
    }


def _with_starts(groups: dict[str, dict[str, Any]], tokens: float, wall: float) -> float | None:
    fresh = [g["raw_fresh"] for g in groups.values() if "raw_fresh" in g]
    if len(fresh) != len(groups):
        return None
    raw_tokens = sum(f["prompt_tokens"] + f["output_tokens"] for f in fresh)
    raw_s = sum(f["seconds"] + f["engine_start_s"] for f in fresh)
    return round(tokens / wall / (raw_tokens / raw_s), 3)


def _both_tasks(groups: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Seconds for both tasks (as the engine ran them; as raw vLLM runs them) over seconds for the summary alone,
    over the groups that ran the summary-only step."""
    ran = [g for g in groups.values() if "summary_only" in g]
    if not ran:
        return {}
    alone = sum(g["summary_only"]["seconds"] for g in ran)
    return {"both_tasks_vs_summary_only_engine": round(sum(g["pipeline"]["llm_chat_s"] for g in ran) / alone, 3),
            "both_tasks_vs_summary_only_raw": round(sum(g["raw"]["seconds"] for g in ran) / alone, 3)}


def _step_tps(groups: dict[str, dict[str, Any]], step: str) -> float | None:
    """Tokens per second of an optional step over all groups; None unless every group ran it."""
    passes = [g[step] for g in groups.values() if step in g]
    if len(passes) != len(groups):
        return None
    return sum(p["prompt_tokens"] + p["output_tokens"] for p in passes) / sum(p["seconds"] for p in passes)


def bench_config(args: argparse.Namespace) -> RunConfig:
    """The RunConfig of a bench run: the vLLM engine with the command line's settings and reply room."""
    settings = EngineSettings(load_format=args.load_format, enforce_eager=args.enforce_eager, retries=0,
                              gpu_memory_utilization=args.gpu_memory_utilization, dtype=args.dtype,
                              quantization=args.quantization, kv_cache_dtype=args.kv_cache_dtype,
                              max_num_seqs=args.max_num_seqs)
    room = {task: int(tokens) for task, tokens in (part.split("=") for part in args.reply_room.split(","))} \
        if args.reply_room else {}
    return RunConfig(engine="vllm", model=args.model, tasks=tuple(args.tasks.split(",")),
                     summary_reserve=room.get("summary", args.max_tokens),
                     clauses_reserve=room.get("clauses", args.max_tokens), reply_room=room,
                     native_context=args.native_context, max_context=4 * args.native_context,
                     batch_documents=1_000, engine_settings=settings)


def native_requests(folder: Path, config: RunConfig) -> tuple[list[Any], list[Request]]:
    """The folder's plans, and the requests of those read whole on the native engine (`rows`, `raw`)."""
    from pipeline.models import Plan
    from pipeline.run.core import plan_inputs

    plans = [p for p in plan_inputs([folder], config) if isinstance(p, Plan)]
    return plans, [r for p in plans for r in p.requests if r.route == "whole"]


def model_free_replies(folder: Path, config: RunConfig) -> dict[str, str]:
    """`run --force-reply-lengths`: the model-free engine's reply to every planned request of the folder, by
    request id — valid JSON whose quotes are verbatim page text, so the pipeline's parse and citation checks
    do the work a real reply asks of them. Reduce requests (windows) are made during the run: not here."""
    from pipeline.engines.extractive import ExtractiveEngine

    plans, _ = native_requests(folder, config)
    done = ExtractiveEngine(config.summary_points).generate([r for p in plans for r in p.requests])
    return {c.request_id: c.text for c in done if not c.error}


def start_native(engine: KeptEngine) -> float:
    """Start the native engine as raw vLLM would (`LLM()` and nothing else: no warm-up); its seconds."""
    from pipeline.engines.vllm_specs import EngineSpec

    t0 = time.perf_counter()
    engine._engine(EngineSpec("native", engine.limits.native))  # noqa: SLF001 - the bench starts it itself
    return time.perf_counter() - t0


def run_rows(args: argparse.Namespace) -> None:
    """One configuration row (model shape × weights dtype × KV-cache dtype) on one native-route folder, raw
    vLLM only: engine start; `--repeat` times both tasks and the summary alone (the spread of their ratio);
    once the same prompts with a 1-token reply (the prefill share), and the summary's alone so (is the second
    task's prefill shared?). Prompt and output tokens/s, documents per hour, peak GPU memory."""
    config = bench_config(args)
    memory = GpuMemory()
    _, requests = native_requests(Path(args.docs), config)
    documents = len({r.doc_id for r in requests})
    engine = KeptEngine(config)
    start_s = start_native(engine)
    row: dict[str, Any] = {"command": " ".join(sys.argv), "settings": config.engine_settings.model_dump(),
                           "per_request_seeds": KeptEngine.seeded, "forced_reply_lengths": KeptEngine.forced_lengths,
                           "vllm_version": __import__("vllm").__version__, "gpu": memory.name,
                           "documents": documents, "requests": len(requests),
                           "engine_start_s": round(start_s, 1), "repeats": []}
    summary_requests = [r for r in requests if r.task == "summary"]
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(args.repeat):
        both, alone = raw_chat(engine, requests), raw_chat(engine, summary_requests)
        row["repeats"].append({"both": both.as_dict(), "summary_only": alone.as_dict(),
                               "both_vs_summary_only": round(both.seconds / alone.seconds, 3)})
        # written after every repeat: a row that outruns the device's call still leaves what it measured
        out.write_text(json.dumps(row, indent=1))
    prefill = raw_chat(engine, requests, max_tokens=1)
    # The second task's prefill: its prompt shares the document's prefix with the summary's (prompts.py puts
    # the task's instructions last), so the prefix cache should make both tasks' prefill cost about the
    # summary's alone — the part of "both tasks ≤ 1.10 × summary alone" that does not depend on reply lengths
    prefill_alone = raw_chat(engine, summary_requests, max_tokens=1)
    both_s = min(r["both"]["seconds"] for r in row["repeats"])
    ratios = [r["both_vs_summary_only"] for r in row["repeats"]]
    first = row["repeats"][0]["both"]
    row |= {
        "prefill_only": prefill.as_dict(),
        "prefill_share_of_raw": round(prefill.seconds / both_s, 3),
        "prefill_summary_only": prefill_alone.as_dict(),
        "prefill_both_vs_summary_only": round(prefill.seconds / prefill_alone.seconds, 3),
        "prompt_tokens_per_s_prefill_only": round(prefill.prompt_tokens / prefill.seconds),
        "output_tokens_per_s_decode": round(first["output_tokens"] / max(both_s - prefill.seconds, 1e-9)),
        "documents_per_hour": round(documents * 3600 / both_s),
        "both_vs_summary_only": {"min": min(ratios), "max": max(ratios), "all": ratios},
        "raw_seconds_spread": [r["both"]["seconds"] for r in row["repeats"]],
        "peak_gpu_memory_gib": round(memory.peak_bytes / 2**30, 1),
        "gpu_memory_total_gib": round(memory.total_bytes / 2**30, 1),
    }
    out.write_text(json.dumps(row, indent=1))
    print(json.dumps({k: v for k, v in row.items() if k != "repeats"}, indent=1))
    engine.really_close()
    memory.stop()


def run_raw(args: argparse.Namespace) -> None:
    """Raw vLLM as a script would run it, in a process of its own: import, one engine started, one `LLM.chat`
    over the folder's planned requests (the pipeline's own, `run --steps none` in another process). With
    `--pipeline PIPELINE.json` (that run's), the ratios of the two, engine starts excluded and included."""
    config = bench_config(args)
    memory = GpuMemory()
    plans, requests = native_requests(Path(args.docs), config)
    engine = KeptEngine(config)
    import_s, start_s = engine.import_s, start_native(engine)
    raw = raw_chat(engine, requests, memory=memory).as_dict()
    row: dict[str, Any] = {"command": " ".join(sys.argv), "settings": config.engine_settings.model_dump(),
                           "per_request_seeds": KeptEngine.seeded,
                           "vllm_version": __import__("vllm").__version__, "gpu": memory.name,
                           "documents": len(plans), "skipped_not_native": sum(r.route != "whole" for p in plans
                                                                                for r in p.requests),
                           "import_s": round(import_s, 1), "engine_start_s": round(start_s, 1), "raw": raw,
                           "peak_gpu_memory_gib": round(memory.peak_bytes / 2**30, 1)}
    if args.pipeline:
        group = next(iter(json.loads(Path(args.pipeline).read_text())["groups"].values()))["pipeline"]
        tokens = group["prompt_tokens"] + group["output_tokens"]
        raw_tps = (raw["prompt_tokens"] + raw["output_tokens"]) / raw["seconds"]
        starts = group["engine_start_s"] + group.get("engine_import_s", 0)
        wall = wall_with_import(group)
        raw_all = raw["seconds"] + start_s + import_s
        row["vs_pipeline"] = {
            "pipeline_vs_raw_without_engine_starts": round(tokens / (wall - starts) / raw_tps, 3),
            "pipeline_vs_raw_with_engine_starts_and_imports":
                round(tokens / wall / ((raw["prompt_tokens"] + raw["output_tokens"]) / raw_all), 3),
            "pipeline_wall_with_starts_s": round(wall, 1), "raw_wall_with_start_s": round(raw_all, 1),
        }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(row, indent=1))
    print(json.dumps(row, indent=1))
    engine.really_close()
    memory.stop()


def nightly_docs(source: Path, folder: Path, count: int) -> None:
    """`count` PDFs for a nightly batch: every PDF of `source`, then copies of them with their pages rotated
    (a copy of a 12-page contract starting at its page 5 reads 5–12, 1–4). A copy is new work for vLLM, as a
    new contract would be: its prompt shares no document prefix with the original's (the prefix cache cannot
    reuse it), and its bytes differ (the run store cannot). PDFs of one page have no copy."""
    from pypdf import PdfReader, PdfWriter

    folder.mkdir(parents=True, exist_ok=True)
    originals = sorted(source.glob("*.pdf"))
    pages = {pdf: len(PdfReader(pdf).pages) for pdf in originals}
    made = 0
    for pdf in originals[:count]:
        (folder / pdf.name).write_bytes(pdf.read_bytes())
        made += 1
    shift = 1
    while made < count:
        for pdf in originals:
            if made >= count:
                break
            if pages[pdf] <= shift:
                continue
            reader, writer = PdfReader(pdf), PdfWriter()
            for index in list(range(shift, pages[pdf])) + list(range(shift)):
                writer.add_page(reader.pages[index])
            with open(folder / f"{pdf.stem}-from-page-{shift + 1}.pdf", "wb") as handle:
                writer.write(handle)
            made += 1
        shift += 1
        if shift > max(pages.values()):
            raise SystemExit(f"only {made} documents can be made from {source}")


def run_bench(args: argparse.Namespace) -> None:
    out, json_path = Path(args.out), Path(args.json)
    out.mkdir(parents=True, exist_ok=True)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    memory = GpuMemory()
    config = bench_config(args)
    settings = config.engine_settings
    results: dict[str, Any] = {"command": " ".join(sys.argv), "settings": settings.model_dump(),
                               "per_request_seeds": KeptEngine.seeded,
                               "forced_reply_lengths": KeptEngine.forced_lengths, "groups": {}}
    t0 = time.perf_counter()
    engine: KeptEngine | None = None  # the first group's run builds it, as `docpipe run` does
    for name in args.groups.split(","):
        results["groups"][name], engine = measure_group(name, Path(args.docs) / name, out, engine, config,
                                                        args.fresh_raw, tuple(args.steps.split(",")), memory)
        results["vllm_version"] = __import__("vllm").__version__
        results["gpu"] = memory.name
        results["peak_gpu_memory_gib"] = round(memory.peak_bytes / 2**30, 1)
        results["gpu_memory_total_gib"] = round(memory.total_bytes / 2**30, 1)
        results["elapsed_s"] = round(time.perf_counter() - t0, 1)
        json_path.write_text(json.dumps(results, indent=1))
        log.info("%s: %s", name, json.dumps(results["groups"][name]))
    if all("raw" in g for g in results["groups"].values()):  # `--steps none`: the pipeline alone, no ratio here
        results["summary"] = summarise(results["groups"])
        json_path.write_text(json.dumps(results, indent=1))
        print(json.dumps(results["summary"], indent=1))
    if engine is not None:
        engine.really_close()
    memory.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="step", required=True)
    docs = sub.add_parser("docs", help="write the benchmark PDFs")
    docs.add_argument("folder")
    docs.add_argument("--seed", type=int, default=0)
    docs.add_argument("--scale", type=float, default=1.0, help="multiply every length (CPU trial: e.g. 0.08)")
    docs.add_argument("--per-group", type=int, default=None, help="at most this many documents per route")
    bench = sub.add_parser("run", help="run the benchmark")
    rows = sub.add_parser("rows", help="one configuration row: raw vLLM only (no pipeline pass)")
    rows.add_argument("--repeat", type=int, default=2, help="passes of both tasks and of the summary alone")
    for each in (bench, rows):
        _engine_options(each)
        each.add_argument("--force-reply-lengths", action="store_true",
                          help="every reply decodes exactly its room (no JSON grammar, EOS ignored): the cost of "
                               "real reply lengths, which dummy weights under the grammar do not reach; in `run` "
                               "the pipeline gets the model-free engine's valid reply text in place of the noise")
    bench.add_argument("--out", required=True, help="folder for the pipeline's results")
    bench.add_argument("--groups", default="native,yarn")
    bench.add_argument("--steps", default=",".join(ALL_STEPS), help="steps after the pipeline pass: " + ",".join(ALL_STEPS))
    bench.add_argument("--fresh-raw", action="store_true",
                       help="also time raw LLM.chat on a new engine of each group's configuration (step 5)")
    raw = sub.add_parser("raw", help="raw vLLM alone in a process of its own: import, engine start, one LLM.chat")
    _engine_options(raw)
    raw.add_argument("--pipeline", default=None, help="a `run --steps none` JSON on the same folder, to compare")
    nightly = sub.add_parser("nightly-docs", help="a nightly batch: a folder's PDFs and page-rotated copies")
    nightly.add_argument("source")
    nightly.add_argument("folder")
    nightly.add_argument("--count", type=int, default=200)
    both = sub.add_parser("summarise", help="the ratios over the groups of several result files")
    both.add_argument("files", nargs="+")
    args = parser.parse_args()
    KeptEngine.seeded = bool(getattr(args, "per_request_seeds", False))
    KeptEngine.forced_lengths = bool(getattr(args, "force_reply_lengths", False))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.step == "docs":
        make_docs(Path(args.folder), args.seed, args.scale, args.per_group)
    elif args.step == "summarise":
        groups = {k: v for f in args.files for k, v in json.loads(Path(f).read_text())["groups"].items()}
        print(json.dumps(summarise(groups), indent=1))
    elif args.step == "rows":
        run_rows(args)
    elif args.step == "raw":
        run_raw(args)
    elif args.step == "nightly-docs":
        nightly_docs(Path(args.source), Path(args.folder), args.count)
    else:
        run_bench(args)


def _engine_options(bench: argparse.ArgumentParser) -> None:
    bench.add_argument("--model", required=True)
    bench.add_argument("--docs", required=True)
    bench.add_argument("--json", required=True, help="file for the measurements")
    bench.add_argument("--load-format", default="auto")
    bench.add_argument("--enforce-eager", action="store_true")
    bench.add_argument("--dtype", default="auto")
    bench.add_argument("--gpu-memory-utilization", type=float, default=0.90)
    bench.add_argument("--max-tokens", type=int, default=256, help="reply room of each task (summary and clauses)")
    bench.add_argument("--reply-room", default=None,
                       help="per task, e.g. summary=800,clauses=2500: the most each reply may decode (dummy weights "
                            "under the JSON grammar mostly close it far sooner, ~280 tokens on average)")
    bench.add_argument("--tasks", default="summary,clauses",
                       help="tasks of every document, e.g. summary,clauses,contract_terms (a user task)")
    bench.add_argument("--quantization", default=None, help="e.g. fp8 (weights)")
    bench.add_argument("--kv-cache-dtype", default="auto", help="auto | fp8")
    bench.add_argument("--max-num-seqs", type=int, default=None)
    bench.add_argument("--per-request-seeds", action="store_true",
                       help="each request sampled with a seed from its id: the pipeline's and raw vLLM's passes "
                            "decode the same replies (see KeptEngine)")
    bench.add_argument("--native-context", type=int, default=32_768, help="CPU trial: smaller, to reach YaRN cheaply")


if __name__ == "__main__":
    main()
