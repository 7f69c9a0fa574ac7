"""`docpipe eval cuad`: run the clause task over a folder in CUAD's layout and score it against the experts.

Contract: `evaluate_cuad(folder, output, config)` returns the EvalReport, also written to `OUT/eval.json` and
`OUT/eval.md`. Only the clause task runs (any engine, any model), through `runner.run` into OUT. Re-scoring
is cheap: results already in OUT are scored without running any engine when `rescore=True` (every contract
must have a result), or when `OUT/eval_run.json` records the same run key (config, checklist, prompt
hashes, the model-free engines' pattern file, docpipe's version) and every contract has a result. An engine
object passed in by the caller always runs: its key cannot be known. Gold page positions are computed from
the PDFs' text once and cached in `OUT/eval_gold.json` by file sha256. Rows of the master sheet whose
PDF is missing are left out, counted in `documents.missing_pdf` and logged.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from pipeline import __version__
from pipeline.tasks.checklist import load_checklist
from pipeline.config import RunConfig
from pipeline.engines.base import Engine
from pipeline.errors import ConfigError, PipelineError
from pipeline.eval.cuad import GoldDoc, category_names, load_cuad, place_spans
from pipeline.eval.report import EvalReport, build_report, write_report
from pipeline.eval.score import GoldSpan, Item, Predicted
from pipeline.eval.split import Split, select
from pipeline.ingest.read import DOC_ID_LENGTH, file_sha256, ingest
from pipeline.models import DocResult, EngineInfo
from pipeline.plan.prompts import template_hashes
from pipeline.render.result import doc_dir, write_atomic
from pipeline.run.core import Progress, run

log = logging.getLogger(__name__)

RUN_STATE = "eval_run.json"
GOLD_CACHE = "eval_gold.json"


def evaluate_cuad(
    folder: Path, output: Path, config: RunConfig, engine: Engine | None = None, rescore: bool = False,
    on_result: Progress | None = None, split: Split = "all",
) -> EvalReport:
    """Run (or reuse) the clause task on the folder's contracts and score it; see the module docstring.
    `split`: score only that half of the contracts (`pipeline.eval.split`)."""
    config = RunConfig.model_validate({**config.model_dump(), "tasks": ("clauses",)})
    docs, missing_pdfs = load_cuad(folder)
    if split != "all":
        kept = set(select([d.pdf.name for d in docs], split))
        docs = tuple(d for d in docs if d.pdf.name in kept)
    if missing_pdfs:
        log.warning("%d contract(s) of the master sheet have no PDF and are not scored, e.g. %s",
                    len(missing_pdfs), missing_pdfs[0])
    checklist = load_checklist(config.checklist)
    columns = list(docs[0].spans) if docs else []
    names = category_names(columns, checklist)
    shas = [file_sha256(doc.pdf) for doc in docs]
    key = run_key(config)
    if not rescore and (engine is not None or not _reusable(output, key, shas)):
        run([doc.pdf for doc in docs], output, config, engine=engine, on_result=on_result)
        write_atomic(output / RUN_STATE, json.dumps({"run_key": key}, indent=2) + "\n")
    elif missing := [d.pdf.name for d, sha in zip(docs, shas) if not _result_path(output, sha).is_file()]:
        raise ConfigError(f"--rescore: no result in {output} for {len(missing)} contract(s), e.g. {missing[0]}")
    else:
        log.info("scoring the results already in %s (no engine run)", output)
        key = _stored_key(output) or key
    results = [_load_result(output, sha) for sha in shas]
    pages = gold_pages(docs, shas, output)
    items = [item for doc, sha, result in zip(docs, shas, results) for item in _items(doc, pages[sha], result, names)]
    statuses = [r.status for r in results]
    engines = [r.engine for r in results if r.status != "failed"]
    report = build_report(
        items, [names[c] for c in columns],
        dataset=folder.resolve().name + ("" if split == "all" else f" ({split} split)"),
        engine=engines[0] if engines else EngineInfo(name=config.engine, model=config.model), run_key=key,
        documents={"total": len(docs), **{s: statuses.count(s) for s in ("ok", "partial", "failed")},
                   "missing_pdf": len(missing_pdfs)},
        gold_unplaced=sum(not g.pages for item in items for g in item.gold),
    )
    write_report(output, report)
    return report


def run_key(config: RunConfig) -> str:
    """What decides whether existing results can be scored again instead of rerunning the engine."""
    patterns = resources.files("pipeline.engines").joinpath("clause_patterns.json").read_bytes()
    parts = {
        "config": config.model_dump(mode="json"),
        "checklist": [item.model_dump() for item in load_checklist(config.checklist)],
        "prompts": template_hashes(),
        "clause_patterns": hashlib.sha256(patterns).hexdigest(),
        "docpipe": __version__,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _result_path(output: Path, sha: str) -> Path:
    return doc_dir(output, sha[:DOC_ID_LENGTH]) / "result.json"


def _stored_key(output: Path) -> str | None:
    try:
        return str(json.loads((output / RUN_STATE).read_text("utf-8"))["run_key"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _reusable(output: Path, key: str, shas: Sequence[str]) -> bool:
    return _stored_key(output) == key and all(_result_path(output, sha).is_file() for sha in shas)


def _load_result(output: Path, sha: str) -> DocResult:
    return DocResult.model_validate_json(_result_path(output, sha).read_text("utf-8"))


def gold_pages(docs: Sequence[GoldDoc], shas: Sequence[str], output: Path) -> dict[str, dict[str, tuple[int, ...]]]:
    """Per PDF sha256: each gold text → the pages holding it; from OUT's cache, else from the PDF's text."""
    cache_path = output / GOLD_CACHE
    try:
        cache = json.loads(cache_path.read_text("utf-8"))
    except (OSError, ValueError):
        cache = {}
    out: dict[str, dict[str, tuple[int, ...]]] = {}
    for doc, sha in zip(docs, shas):
        texts = [t for spans in doc.spans.values() for t in spans]
        known = cache.get(sha, {})
        if not all(t in known for t in texts):
            known = {**known, **_place(doc, texts)}
            cache[sha] = known
        out[sha] = {t: tuple(known[t]) for t in texts}
    write_atomic(cache_path, json.dumps(cache, indent=1, sort_keys=True) + "\n")
    return out


def _place(doc: GoldDoc, texts: Sequence[str]) -> dict[str, tuple[int, ...]]:
    try:
        return place_spans(texts, ingest(doc.pdf).pages)
    except PipelineError as exc:  # the contract's score stands; only its page accuracy is lost
        log.warning("%s: cannot read for gold pages: %s", doc.pdf.name, exc)
        return {t: () for t in texts}


def _items(doc: GoldDoc, pages: dict[str, tuple[int, ...]], result: DocResult, names: dict[str, str]) -> list[Item]:
    items = []
    for column, texts in doc.spans.items():
        name = names[column]
        predicted = tuple(
            Predicted(c.citation.quote, c.citation.page_number, c.citation.status, c.confidence)
            for c in result.clauses if c.category == name
        )
        gold = tuple(GoldSpan(t, pages[t]) for t in texts)
        items.append(Item(category=name, gold=gold, predicted=predicted, said_absent=name in result.absent))
    return items
