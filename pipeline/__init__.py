"""docpipe: folders of long PDFs in, page-cited summaries, clause extractions and user-defined tasks out.

Importing this package is cheap: it pulls in neither vllm nor torch (engines load them lazily), and the
Python API (`run_folder`, `load_task`, `make_config`: `pipeline.api`) is imported on first use.
The stages, one package each: ingest → plan → engines → cite/merge → render, driven by run/.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["RunResults", "load_task", "make_config", "run_folder"]

if TYPE_CHECKING:
    from pipeline.api import RunResults, load_task, make_config, run_folder


def __getattr__(name: str) -> Any:
    # PEP 562: the API (and what it imports: config, models, the task registry) loads on first use only.
    if name in __all__:
        from pipeline import api

        return getattr(api, name)
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
