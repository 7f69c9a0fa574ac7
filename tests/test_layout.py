"""No stage imports a later one (`pipeline.STAGES`), at module level or inside a function: every import of
every module under pipeline/ is read from its source (ast), so a lazy `from pipeline.plan import …` in
ingest/ fails here as surely as one at the top. Leaf modules (`pipeline.LEAVES`) import no stage; every
module belongs to a stage, the leaves or the top (`pipeline.TOP`), so a new package must be placed."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pipeline
from pipeline import LEAVES, STAGES, TOP

PACKAGE = Path(pipeline.__file__).parent


def _part(path: Path) -> str:
    """The stage, leaf or top module a file of pipeline/ belongs to ("" for pipeline/__init__.py)."""
    relative = path.relative_to(PACKAGE).with_suffix("")
    return "" if relative.parts == ("__init__",) else relative.parts[0]


def _imported(source: str, module: str) -> Iterator[tuple[int, str]]:
    """(line, part of pipeline) of every import in `source`, wherever it stands; `module` is the importing
    module's dotted name (for relative imports)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*module.split(".")[: -node.level], *filter(None, [base])])
            names = [f"{base}.{alias.name}" for alias in node.names] if base == "pipeline" else [base]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "pipeline":
                yield node.lineno, parts[1] if len(parts) > 1 else ""


def violations(sources: Mapping[str, str]) -> list[str]:
    """Imports that break the order, as 'file:line: a imports b', for sources by path under pipeline/."""
    rank = {stage: i for i, stage in enumerate(STAGES)}
    found = []
    for path, source in sources.items():
        part = _part(PACKAGE / path)
        module = "pipeline." + ".".join(Path(path).with_suffix("").parts)
        for line, target in _imported(source, module):
            if target in ("", "__version__") or target == part or target in LEAVES or part in TOP or part == "":
                continue
            if part in LEAVES or target in TOP or rank.get(target, -1) > rank.get(part, len(STAGES)):
                found.append(f"{path}:{line}: {part} imports {target}")
    return found


def _sources() -> dict[str, str]:
    return {str(p.relative_to(PACKAGE)): p.read_text("utf-8") for p in sorted(PACKAGE.rglob("*.py"))}


def test_no_stage_imports_a_later_one():
    assert violations(_sources()) == []


def test_every_module_is_placed():
    known = {*STAGES, *LEAVES, *TOP, ""}
    assert sorted({_part(PACKAGE / path) for path in _sources()} - known) == []


def test_lazy_and_relative_imports_are_caught():
    sources = {
        "ingest/x.py": "def f():\n    from pipeline.plan.routes import plan_document\n",
        "tasks/y.py": "if True:\n    from ..plan import prompts\n",
        "models.py": "import pipeline.tasks.registry\n",
        "merge/z.py": "from pipeline import run\nfrom pipeline import cite, config, __version__\n",
        "run/ok.py": "from pipeline.plan import routes\nfrom pipeline.ingest import read\nfrom . import batch\n",
    }
    assert violations(sources) == [
        "ingest/x.py:2: ingest imports plan", "tasks/y.py:2: tasks imports plan", "models.py:1: models imports tasks",
        "merge/z.py:1: merge imports run",
    ]
