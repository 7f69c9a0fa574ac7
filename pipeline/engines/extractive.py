"""The model-free engine: a real, deterministic baseline behind the engine protocol.

- summary: source sentences ranked by centrality (cosine similarity of each sentence's TF-IDF vector
  to the document's centroid), redundant ones skipped, best N returned in reading order;
- clauses: sentences matched by per-category patterns (`clause_patterns.json`);
- reduce_summary (windows route): the most central of the window points offered, named by their ids;
every item's quote is a verbatim slice of a page's text, cited with that page's number. It replies with
the same JSON the task's response model defines, so everything downstream is shared with real models.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pipeline.engines.base import BatchStreaming, EngineDefaults
from pipeline.engines.boilerplate import content_spans
from pipeline.engines.clause_patterns import load_matchers
from pipeline.models import ChecklistItem, Completion, Page, PointRef, Request
from pipeline.tasks.registry import BUILTIN
from pipeline.tasks.responses import ReduceItem, ReduceSummaryReply, Reply, response_model
from pipeline.plan.sentences import sentence_spans

MIN_SUMMARY_CHARS = 40
MAX_SUMMARY_CHARS = 500
MAX_PER_CATEGORY = 5
REDUNDANCY_MAX = 0.5  # word-set Jaccard above which a candidate repeats a chosen sentence
_WORD = re.compile(r"[a-z][a-z0-9]{2,}")
_STOP = frozenset(
    "the and for that this with shall any such from are not its all will may have has been which other "
    "party parties agreement hereof hereto herein thereof each under upon into than then there their "
    "was were but per also can our you your".split()
)


BUILTIN_TASKS = frozenset(BUILTIN)


@dataclass(frozen=True)
class Sentence:
    page_number: int
    text: str


def sentences(pages: Sequence[Page], cut_boilerplate: bool = True) -> Iterator[Sentence]:
    """The content sentences of the pages, in reading order: page headers, footers and table-of-contents
    lines (`boilerplate.content_spans`, recognised over the pages given) are cut out first, so no sentence
    quotes them; each sentence is still a verbatim slice of its page's text. `cut_boilerplate=False` is the
    engine as it was before (kept so bench/evaluation_doc.py can measure the difference from this code)."""
    content = content_spans(pages) if cut_boilerplate else {
        page.page_number: [(0, len(page.text))] for page in pages if page.status == "ok"}
    for page in pages:
        for span_start, span_end in content.get(page.page_number, ()):
            segment = page.text[span_start:span_end]
            for start, end in sentence_spans(segment):
                yield Sentence(page.page_number, segment[start:end])


class ExtractiveEngine(BatchStreaming, EngineDefaults):
    """Deterministic, CPU-only; needs no model. Window requests are handled like whole ones."""

    name = "extractive"
    model: str | None = None
    tasks: frozenset[str] | None = BUILTIN_TASKS  # the tasks it knows how to do without a model

    def __init__(self, summary_points: int = 8, cut_boilerplate: bool = True) -> None:
        self.summary_points = summary_points
        self.cut_boilerplate = cut_boilerplate

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        return [self._complete(request) for request in requests]

    def close(self) -> None:
        """Nothing to free."""

    def summary(self, pages: Sequence[Page]) -> str:
        """JSON of the summary reply."""
        return summarize(pages, self.summary_points, self.cut_boilerplate).model_dump_json()

    def clauses(self, pages: Sequence[Page], checklist: Sequence[ChecklistItem]) -> str:
        """JSON of the clauses reply."""
        return extract_clauses(pages, checklist, self.cut_boilerplate)

    def _complete(self, request: Request) -> Completion:
        started = time.perf_counter()
        if request.task == "summary":
            text = self.summary(request.pages)
        elif request.task == "clauses":
            text = self.clauses(request.pages, request.checklist)
        elif request.task == "reduce_summary":
            text = reduce_points(request.items, self.summary_points).model_dump_json()
        else:
            return Completion(request_id=request.request_id, error=f"{self.name} engine: no task {request.task!r}")
        return Completion(request_id=request.request_id, text=text, finish_reason="stop",
                          prompt_tokens=request.prompt_tokens, seconds=time.perf_counter() - started)


def summarize(pages: Sequence[Page], n_points: int, cut_boilerplate: bool = True) -> Reply:
    """The `n_points` most central content sentences, in reading order (the summary task's reply)."""
    candidates = [s for s in sentences(pages, cut_boilerplate) if _summary_worthy(s.text)]
    points = [
        {"point": " ".join(candidates[i].text.split()), "quote": candidates[i].text,
         "page_number": candidates[i].page_number}
        for i in central([c.text for c in candidates], n_points)
    ]
    return response_model("summary").model_validate({"points": points})


def reduce_points(items: Sequence[PointRef], n_points: int) -> ReduceSummaryReply:
    """The reduce task: the `n_points` most central of the points offered, by their text, in their order;
    each names its own id (its citation is the map step's, never re-made here)."""
    chosen = central([item.text for item in items], n_points)
    return ReduceSummaryReply(points=[ReduceItem(point=items[i].text, ids=[items[i].id]) for i in chosen])


def central(texts: Sequence[str], n: int) -> list[int]:
    """Indices of the `n` texts closest to the centroid of all (TF-IDF cosine), skipping near-repeats of a
    text already chosen; in their original order."""
    bags = [Counter(w for w in _WORD.findall(text.lower()) if w not in _STOP) for text in texts]
    df = Counter(word for bag in bags for word in bag)
    count = len(bags)
    vectors = [{w: tf * math.log(1 + count / df[w]) for w, tf in bag.items()} for bag in bags]
    centroid: Counter[str] = Counter()
    for vec in vectors:
        centroid.update(vec)
    centroid_norm = math.sqrt(sum(v * v for v in centroid.values()))
    ranked = sorted(range(count), key=lambda i: (-_cosine(vectors[i], centroid, centroid_norm), i))
    chosen: list[int] = []
    for i in ranked:
        if len(chosen) == n:
            break
        if all(_jaccard(bags[i], bags[j]) <= REDUNDANCY_MAX for j in chosen):
            chosen.append(i)
    return sorted(chosen)


def extract_clauses(pages: Sequence[Page], checklist: Sequence[ChecklistItem], cut_boilerplate: bool = True) -> str:
    """JSON of the clauses reply: each content sentence matching a category's patterns, first few per category."""
    model = response_model("clauses", checklist)
    matchers = load_matchers([(item.name, item.description) for item in checklist])
    found: list[dict[str, object]] = []
    per_category: Counter[str] = Counter()
    for sentence in sentences(pages, cut_boilerplate):
        flat = " ".join(sentence.text.split())  # patterns see one line; the quote stays verbatim
        for matcher in matchers:
            if per_category[matcher.name] < MAX_PER_CATEGORY and matcher.matches(flat):
                per_category[matcher.name] += 1
                found.append({"category": matcher.name, "quote": sentence.text,
                              "page_number": sentence.page_number})
    return model.model_validate({"clauses": found}).model_dump_json()


def _summary_worthy(text: str) -> bool:
    if not MIN_SUMMARY_CHARS <= len(text) <= MAX_SUMMARY_CHARS:
        return False
    letters = sum(ch.isalpha() for ch in text)
    return letters >= 0.6 * len(text) and len(text.split()) >= 6


def _cosine(a: dict[str, float], b: Counter[str], b_norm: float) -> float:
    dot = sum(v * b[w] for w, v in a.items())
    norm = math.sqrt(sum(v * v for v in a.values())) * b_norm
    return dot / norm if norm else 0.0


def _jaccard(a: Counter[str], b: Counter[str]) -> float:
    union = len(a.keys() | b.keys())
    return len(a.keys() & b.keys()) / union if union else 1.0
