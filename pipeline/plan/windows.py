"""Page-aligned windows for documents whose prompt does not fit the context.

Contract: `split_windows` returns WindowSlices covering every page in order. Each window's rendered prompt
for every task, plus that task's output reserve, fits `budget` — checked by exact counting of the rendered
chat prompt; per-page counts only choose where to try a cut. Windows cut at page boundaries; a page is cut
inside (at paragraph, then sentence boundaries, then at a space) only when it alone does not fit. Each
window repeats at most `config.window_overlap` of the previous window's text, in whole pages (or page parts).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.config import RunConfig
from pipeline.errors import InputError
from pipeline.models import ChecklistItem, Document, Message, Page, PagePart, Window
from pipeline.plan.packing import fill, overlap_start, pack
from pipeline.plan.prompts import build_messages, render_template
from pipeline.plan.sentences import sentence_starts
from pipeline.plan.tokens import Tokenizer
from pipeline.tasks.registry import load_tasks, task_reserve

PART_MARGIN = 64  # tokens a page part leaves free: its header, and joins that count differently in context
_PARAGRAPH = re.compile(r"\n[ \t]*\n")


@dataclass(frozen=True)
class WindowSlice:
    """One window, with its prompts rendered and counted exactly (the plan turns them into requests)."""

    window: Window
    pages: tuple[Page, ...]  # a page held in part is a copy with only that part's text
    messages: dict[str, tuple[Message, ...]]
    tokens: dict[str, int]


@dataclass(frozen=True)
class _Context:
    """What measuring a window needs besides its pages."""

    config: RunConfig
    tokenizer: Tokenizer
    checklist: tuple[ChecklistItem, ...]
    budget: int


@dataclass(frozen=True)
class _Unit:
    """A page, or a part of one: the smallest thing a window holds."""

    page: Page
    part: PagePart | None
    cost: int


def page_costs(pages: Sequence[Page], tokenizer: Tokenizer) -> list[int]:
    """Tokens of each page's block as the prompt shows it, counted page by page (never the whole text)."""
    return [tokenizer.count(render_template("page.j2", page=page, part=None)) for page in pages]


def fixed_cost(doc: Document, config: RunConfig, tokenizer: Tokenizer, checklist: Sequence[ChecklistItem]) -> int:
    """Largest prompt-without-pages plus reply reserve over the tasks: what a window spends besides text."""
    last = len(doc.pages)
    probe = Window(index=0, page_start=last, page_end=last, prompt_tokens=0)
    return max(
        tokenizer.count_chat(build_messages(task, (), last, checklist, probe, config.summary_points), config.thinking)
        + task_reserve(config, task)
        for task in load_tasks(config.tasks)
    )


def split_windows(
    doc: Document, config: RunConfig, tokenizer: Tokenizer, checklist: Sequence[ChecklistItem], budget: int,
    costs: Sequence[int] | None = None,
) -> list[WindowSlice]:
    """Cut `doc` into windows that fit `budget`; `costs` are `page_costs(doc.pages)` if already known."""
    room = budget - fixed_cost(doc, config, tokenizer, checklist)
    if room <= 2 * PART_MARGIN:
        raise InputError(f"a window's prompt without any page text already needs {budget - room} of the "
                         f"{budget} tokens allowed; raise --max-context or shorten the checklist")
    units = _units(doc.pages, costs or page_costs(doc.pages, tokenizer), room - PART_MARGIN, tokenizer)
    unit_costs = [u.cost for u in units]
    ctx = _Context(config, tokenizer, tuple(checklist), budget)
    slices: list[WindowSlice] = []
    start, covered = 0, 0  # units [0, covered) are in some window already
    while covered < len(units):
        end, rendered = pack(unit_costs, start, room, lambda a, b: _measure(doc, units[a:b], len(slices), ctx))
        if end <= covered and start < covered:  # the overlap left no room for new text: start afresh
            start = covered
            continue
        if rendered is None:
            raise InputError(f"page {units[start].page.page_number} does not fit a window of {budget} tokens "
                             f"even cut into parts")
        slices.append(rendered)
        covered, start = end, overlap_start(unit_costs, start, end, config.window_overlap)
    return slices


def _measure(doc: Document, units: Sequence[_Unit], index: int, ctx: _Context) -> tuple[int, WindowSlice]:
    """Render the window of `units` and count it exactly: (tokens over the budget, the window)."""
    config, tokenizer, checklist = ctx.config, ctx.tokenizer, ctx.checklist
    tasks = load_tasks(config.tasks)
    pages = tuple(u.page for u in units)
    parts = [u.part for u in units]
    window = Window(index=index, page_start=pages[0].page_number, page_end=pages[-1].page_number,
                    prompt_tokens=0, parts=tuple(p for p in parts if p is not None))
    messages = {
        task.name: build_messages(task, pages, len(doc.pages), checklist, window, config.summary_points, parts,
                               controls=tokenizer.control_strings())
        for task in tasks
    }
    tokens = dict(zip(messages, tokenizer.count_chats(list(messages.values()), config.thinking), strict=True))
    window = window.model_copy(update={"prompt_tokens": max(tokens.values())})
    over = max(tokens[task.name] + task_reserve(config, task) for task in tasks) - ctx.budget
    return over, WindowSlice(window=window, pages=pages, messages=messages, tokens=tokens)


def _units(pages: Sequence[Page], costs: Sequence[int], room: int, tokenizer: Tokenizer) -> list[_Unit]:
    """Every page as one unit, except pages over `room`, cut into parts that each fit it."""
    units: list[_Unit] = []
    for page, cost in zip(pages, costs, strict=True):
        if cost <= room or page.status != "ok":
            units.append(_Unit(page=page, part=None, cost=cost))
            continue
        largest = PagePart(page_number=page.page_number, part=99, parts=99, char_start=0, char_end=0)
        header = tokenizer.count(render_template("page.j2", page=page.model_copy(update={"text": ""}), part=largest))
        spans = split_text(page.text, room - header, tokenizer)
        if len(spans) == 1:  # the text fits and only the header tipped it over: keep the page whole
            units.append(_Unit(page=page, part=None, cost=cost))
            continue
        for k, (start, end) in enumerate(spans, start=1):
            part = PagePart(page_number=page.page_number, part=k, parts=len(spans), char_start=start, char_end=end)
            piece = page.model_copy(update={"text": page.text[start:end]})
            units.append(_Unit(page=piece, part=part,
                               cost=tokenizer.count(render_template("page.j2", page=piece, part=part))))
    return units


def split_text(text: str, room: int, tokenizer: Tokenizer) -> list[tuple[int, int]]:
    """Contiguous spans covering `text`, each ≤ `room` tokens by estimate: paragraphs packed together, a
    paragraph too long cut at sentences, a sentence too long cut at spaces."""
    pieces = _pieces(text, 0, len(text), room, tokenizer, level=0)
    costs = [cost for _, _, cost in pieces]
    spans: list[tuple[int, int]] = []
    start = 0
    while start < len(pieces):
        end = fill(costs, start, room)
        spans.append((pieces[start][0], pieces[end - 1][1]))
        start = end
    return spans


def _pieces(text: str, start: int, end: int, room: int, tokenizer: Tokenizer, level: int) -> list[tuple[int, int, int]]:
    cost = tokenizer.count(text[start:end])
    if cost <= room or end - start <= 1:
        return [(start, end, cost)]
    cuts = _cuts(text, start, end, level, cost, room)
    if not cuts:
        return _pieces(text, start, end, room, tokenizer, level + 1)
    bounds = [start, *cuts, end]
    return [piece for a, b in itertools.pairwise(bounds) for piece in _pieces(text, a, b, room, tokenizer, level + 1)]


def _cuts(text: str, start: int, end: int, level: int, cost: int, room: int) -> list[int]:
    """Offsets strictly inside (start, end) to cut at: paragraph breaks, then sentence starts, then spaces."""
    if level == 0:
        cuts = [m.end() for m in _PARAGRAPH.finditer(text, start, end)]
    elif level == 1:
        cuts = [start + at for at in sentence_starts(text[start:end])]
    else:
        step = max(1, (end - start) * room // (cost * 2))  # pieces of about half the room
        cuts = []
        at = start
        while at + step < end:
            space = text.rfind(" ", at + step // 2, at + step)
            at = space + 1 if space > at else at + step
            cuts.append(at)
    return sorted({c for c in cuts if start < c < end})

