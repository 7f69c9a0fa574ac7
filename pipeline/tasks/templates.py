"""Where the prompts live: the folder of the jinja2 templates and of the bundled task files, and the hashes
of the templates that key results.

Contract: `prompts_dir()` is `$DOCPIPE_PROMPTS`, else the copy packaged in the wheel, else the repository's
`prompts/`; its `tasks/` holds the bundled task files (`tasks.registry`). `template_hashes()` maps each
shared template present (`TEMPLATES`) to its sha256 (task files are keyed by their definitions instead,
`store.key`). Rendering is the plan stage's (`plan.prompts`); this module is here, before it, because the
task registry needs the folder too and a stage may not import a later one.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

TEMPLATES = ("system.j2", "document.j2", "page.j2", "fields.j2", "reduce_summary.j2")  # tasks/*.toml: key.py


def prompts_dir() -> Path:
    """`$DOCPIPE_PROMPTS`, else the copy packaged in the wheel, else the repository's `prompts/`."""
    if env := os.environ.get("DOCPIPE_PROMPTS"):
        return Path(env)
    package = Path(__file__).parent.parent  # pipeline/
    packaged = package / "_prompts"
    return packaged if packaged.is_dir() else package.parent / "prompts"


def template_hashes(folder: Path | None = None) -> dict[str, str]:
    """sha256 of each template file present: part of the key that decides whether to redo a document."""
    folder = folder or prompts_dir()
    return {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
        for name in TEMPLATES
        if (folder / name).is_file()
    }
