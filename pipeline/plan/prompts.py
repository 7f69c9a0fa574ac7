"""Stage prompts: pages + task → chat messages, from the jinja2 templates in `prompts/` (the folder:
`tasks.templates.prompts_dir`).

Contract: the system message and the document block are identical for every task on the same pages, and
the task's instructions come last, so a document's requests share one prefix (prefix caching). Document
text reaches jinja2 only as data (a variable), never as template source; undefined names are errors.
Every string a template prints from its data is neutralised (`sanitize.neutralize`): the tokenizer's control
strings in a document (`<|im_end|>`, `<think>`, …) can not become control tokens of the prompt; the
template's own text is left alone. Counting the rendered messages therefore counts the neutralised text.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.models import ChecklistItem, Message, Page, PagePart, Window
from pipeline.sanitize import neutralizer
from pipeline.tasks.registry import TaskDef, task_named
from pipeline.tasks.templates import prompts_dir

if TYPE_CHECKING:
    import jinja2


@functools.cache
def environment(folder: Path, controls: tuple[str, ...] = ()) -> jinja2.Environment:
    """The templates of `folder`; what they print from their data has `controls` neutralised."""
    import jinja2  # here, not at module level: a run with nothing to do never renders

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # plain-text prompts; HTML output uses its own escaping environment
        keep_trailing_newline=False,
        auto_reload=False,  # templates do not change during a run: no stat() per rendered page
        finalize=neutralizer(controls),
    )


def default_controls() -> tuple[str, ...]:
    """The control strings of the bundled Qwen3 tokenizer: used when a caller names no tokenizer."""
    from pipeline.plan.tokens import bundled_tokenizer_dir, load_tokenizer

    return load_tokenizer(bundled_tokenizer_dir()).control_strings()


def build_messages(
    task: TaskDef | str,
    pages: Sequence[Page],
    page_count: int,
    checklist: Sequence[ChecklistItem] = (),
    window: Window | None = None,
    n_points: int = 8,
    parts: Sequence[PagePart | None] = (),
    controls: Sequence[str] | None = None,
) -> tuple[Message, ...]:
    """The chat messages (system, user) of one task over some pages of a document: the shared document
    prefix (`document.j2`), then the task's instructions (its file's template). `parts`, aligned with
    `pages`, marks the pages a window holds only part of (their Page then carries that part's text).
    `controls`: the tokenizer's control strings (`Tokenizer.control_strings()`), neutralised in everything
    the templates print from their data; None means the bundled Qwen3 tokenizer's. `task`: its definition,
    or the name of a task loaded or bundled."""
    task = task_named(task) if isinstance(task, str) else task
    env = environment(prompts_dir(), tuple(default_controls() if controls is None else controls))
    user = _task_template(env, task.instructions).render(
        task=task, pages=pages, page_count=page_count, checklist=checklist, window=window, n_points=n_points,
        parts=parts).strip()
    return system_message(controls), Message(role="user", content=user)


@functools.lru_cache(maxsize=64)
def _task_template(env: jinja2.Environment, instructions: str) -> jinja2.Template:
    """A task's user prompt: the document block every task shares, then the task's instructions. The task
    file is trusted configuration (like the templates); document text still reaches it only as data."""
    return env.from_string('{% include "document.j2" %}\n\n' + instructions)


def system_message(controls: Sequence[str] | None = None) -> Message:
    return Message(role="system", content=render_template("system.j2", controls=controls))


def render_template(name: str, controls: Sequence[str] | None = None, **values: object) -> str:
    """Render any template of `prompts/` (used by stages with prompts of their own, e.g. reduce);
    `controls` as in `build_messages`."""
    env = environment(prompts_dir(), tuple(default_controls() if controls is None else controls))
    return env.get_template(name).render(**values).strip()
