"""docpipe: folders of long PDFs in, page-cited summaries, clause extractions and user-defined tasks out.

Importing this package is cheap: it pulls in neither vllm nor torch (engines load them lazily), and the
Python API (`run_folder`, `load_task`, `make_config`: `pipeline.api`) is imported on first use.

The stages, one package each, in the order data flows through them (`STAGES`): ingest (PDF → Document),
tasks (what to ask: task files, their schemas; the prompts folder), plan (routes, windows, prompts,
requests), engines (requests → completions), cite (quote → Citation), merge (replies → one result per
document, the reduce), render (files), store (the run store and its key), run (the batch core and its
callers, the reader processes that ingest and plan), eval. A stage imports only the leaf modules
(`LEAVES`, which import no stage), its own package and earlier stages — at module level or inside a
function alike (tests/test_layout.py checks); `api`, `cli` and `cli_options` sit on top and may import any.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
STAGES = ("ingest", "tasks", "plan", "engines", "cite", "merge", "render", "store", "run", "eval")
LEAVES = ("models", "errors", "config", "settings", "sanitize", "secrets", "logs", "install")
TOP = ("api", "cli", "cli_options", "__main__")
__all__ = ["RunResults", "load_task", "make_config", "run_folder"]

if TYPE_CHECKING:
    from pipeline.api import RunResults, load_task, make_config, run_folder


def __getattr__(name: str) -> Any:
    # PEP 562: the API (and what it imports: config, models, the task registry) loads on first use only.
    if name in __all__:
        from pipeline import api

        return getattr(api, name)
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
