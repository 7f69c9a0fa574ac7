"""Page-aligned windows for documents whose prompt does not fit the context.

Contract: `split_windows` returns (Window, pages) pairs covering every page in order; each window's
rendered prompt for every task, plus that task's output reserve, fits `budget` (checked by exact
counting, not estimated). Windows hold whole pages.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.config import RunConfig
from pipeline.errors import InputError
from pipeline.models import ChecklistItem, Document, Page, Window
from pipeline.prompts import build_messages
from pipeline.sanitize import neutralize
from pipeline.tokens import Tokenizer

WindowSlice = tuple[Window, tuple[Page, ...]]


def split_windows(
    doc: Document, config: RunConfig, tokenizer: Tokenizer, checklist: Sequence[ChecklistItem], budget: int
) -> list[WindowSlice]:
    """Greedy page-aligned split: estimate with per-page counts, then confirm each window exactly."""
    page_cost = [tokenizer.count(neutralize(_page_block(p), tokenizer.control_strings())) for p in doc.pages]
    overhead = max(_exact(doc, (), config, tokenizer, checklist, task) for task in config.tasks)
    room = budget - overhead - max(config.reserve(t) for t in config.tasks)
    slices: list[WindowSlice] = []
    start = 0
    while start < len(doc.pages):
        end, used = start, 0
        while end < len(doc.pages) and (end == start or used + page_cost[end] <= room):
            used += page_cost[end]
            end += 1
        while True:  # shrink until the exact count fits
            pages = doc.pages[start:end]
            tokens = max(_exact(doc, pages, config, tokenizer, checklist, t) + config.reserve(t) for t in config.tasks)
            if tokens <= budget:
                break
            if end - start == 1:
                raise InputError(f"page {pages[0].page_number} alone needs {tokens} tokens, over the {budget} budget")
            end -= 1
        window = Window(index=len(slices), page_start=pages[0].page_number, page_end=pages[-1].page_number,
                        prompt_tokens=tokens - max(config.reserve(t) for t in config.tasks))
        slices.append((window, tuple(pages)))
        start = end
    return slices


def _page_block(page: Page) -> str:
    return f"=== page {page.page_number} (printed label: {page.page_label}) ===\n{page.text}\n"


def _exact(
    doc: Document, pages: Sequence[Page], config: RunConfig, tokenizer: Tokenizer,
    checklist: Sequence[ChecklistItem], task: str,
) -> int:
    probe = Window(index=0, page_start=1, page_end=len(doc.pages), prompt_tokens=0)
    messages = build_messages(task, pages, len(doc.pages), checklist, probe, 99, config.summary_points,
                              controls=tokenizer.control_strings())
    return tokenizer.count_chat(messages, config.thinking)
