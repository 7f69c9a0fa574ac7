"""Score the extractive engine's clause patterns on the CUAD dev set (60 contracts).

Usage:
    .venv/bin/python bench/tune_clause_patterns.py [--data DIR] [--show CATEGORY] [--limit N]
        [--splitter simple|pipeline]

For each of CUAD's 41 categories, sentences of each contract are matched with
``pipeline.engines.clause_patterns.load_matchers``. A gold clause counts as found when some
matched sentence of its category (same contract) overlaps it: word-level Jaccard >= 0.5, or the
gold text is contained in the sentence after whitespace/case/punctuation normalisation (for golds
of 8+ letters/digits, ignoring whitespace altogether, as CUAD's own page placement does). A gold
text with "<omitted>" gaps overlaps a sentence when one of its segments (4+ words) does.
Precision = matched sentences overlapping some gold clause of that category / matched sentences.
A keyword baseline (sentence contains all of the category name's words, lowercased) is scored
the same way. "ceiling" = recall if every sentence matched (limit set by the splitter and metric).
Extracted page text is cached under /tmp/docpipe-cuad-pages-<hash of the data folder>.json.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import sys
import warnings
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.engines.clause_patterns import load_matchers  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "cuad-dev"
MAX_SENTENCE = 600

_ABBREV = ("Inc", "Ltd", "Corp", "Co", "No", "Nos", "Mr", "Ms", "Mrs", "Dr", "St", "Sec", "vs", "Art", "Jr")
_BOUNDARY = re.compile(
    "".join(rf"(?<!\b{a}\.)" for a in _ABBREV)
    + r"(?<!\b[A-Z]\.)(?<!\be\.g\.)(?<!\bi\.e\.)(?<=[.!?])\s+(?=[A-Z\"'“‘(])"
)
_WORDS = re.compile(r"[a-z0-9]+")


def page_texts(data: Path) -> dict[str, list[str]]:
    """Plain-mode pypdf text per page per PDF file name, cached in /tmp."""
    cache = Path(f"/tmp/docpipe-cuad-pages-{hashlib.sha1(str(data.resolve()).encode()).hexdigest()[:12]}.json")
    if cache.exists():
        return json.loads(cache.read_text(encoding="utf-8"))
    import pypdf

    warnings.filterwarnings("ignore")
    out = {
        pdf.name: [page.extract_text() or "" for page in pypdf.PdfReader(pdf).pages]
        for pdf in sorted((data / "pdf").glob("*.pdf"))
    }
    cache.write_text(json.dumps(out), encoding="utf-8")
    return out


def _chunks(sentence: str) -> list[str]:
    """Cut an over-long sentence at whitespace into pieces of at most ~MAX_SENTENCE chars."""
    pieces: list[str] = []
    while len(sentence) > MAX_SENTENCE:
        cut = sentence.rfind(" ", MAX_SENTENCE // 2, MAX_SENTENCE)
        cut = cut if cut > 0 else MAX_SENTENCE
        pieces.append(sentence[:cut].strip())
        sentence = sentence[cut:].strip()
    return pieces + [sentence] if sentence else pieces


def split_sentences(text: str) -> list[str]:
    """Split page text on blank lines and sentence-ending punctuation; cap length."""
    text = text.replace("\xa0", " ").replace("\xad", "-")
    sentences: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        block = " ".join(block.split())
        for sentence in _BOUNDARY.split(block):
            if sentence.strip():
                sentences.extend(_chunks(sentence.strip()))
    return sentences


def engine_sentences(text: str) -> list[str]:
    """Sentences as the extractive engine sees them: its spans, whitespace-flattened."""
    from pipeline.plan.sentences import sentence_spans

    return [" ".join(text[a:b].split()) for a, b in sentence_spans(text)]


class Text:
    """A sentence or gold clause with its normalised form (lowercased alphanumeric words)."""

    __slots__ = ("raw", "norm", "squeezed", "words")

    def __init__(self, raw: str) -> None:
        self.raw = raw
        self.norm = " " + " ".join(_WORDS.findall(raw.lower())) + " "
        self.squeezed = self.norm.replace(" ", "")
        self.words = frozenset(self.norm.split())


def overlaps(sentence: Text, gold: Text) -> bool:
    """Word-level Jaccard >= 0.5, or normalised gold contained in normalised sentence.

    Containment compares whole words; for golds of 8+ letters/digits it also compares with all
    whitespace removed (PDF text extraction splits words differently, e.g. "20t h" vs "20th").
    """
    if len(gold.norm) > 2 and gold.norm in sentence.norm:
        return True
    if len(gold.squeezed) >= 8 and gold.squeezed in sentence.squeezed:
        return True
    union = len(sentence.words | gold.words)
    return bool(union) and len(sentence.words & gold.words) >= 0.5 * union


def gold_parts(text: str) -> list[Text]:
    """A gold clause as its "<omitted>"-separated segments of 4+ words (CUAD marks gaps so)."""
    parts = [Text(part) for part in text.split("<omitted>")]
    long_parts = [part for part in parts if len(part.norm.split()) >= 4]
    return long_parts or [Text(text.replace("<omitted>", " "))]


def keyword_matcher(name: str) -> Callable[[str], bool]:
    """Baseline: the lowercased sentence contains every word of the category name."""
    words = re.findall(r"[a-z0-9]+", name.lower())
    return lambda sentence: all(w in sentence.lower() for w in words)


def score(
    docs: dict[str, list[Text]],
    gold: dict[tuple[str, str], list[list[Text]]],
    matchers: dict[str, Callable[[str], bool]],
) -> tuple[dict[str, list[int]], dict[str, list[tuple[str, str, bool]]], dict[str, list[tuple[str, str]]]]:
    """Per category [found, gold, correct, matched]; matched sentences; missed gold clauses."""
    stats: dict[str, list[int]] = {c: [0, 0, 0, 0] for c in matchers}
    hits: dict[str, list[tuple[str, str, bool]]] = defaultdict(list)
    misses: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for pdf, sentences in docs.items():
        for cat, match in matchers.items():
            golds = gold.get((pdf, cat.lower()), [])
            matched = [s for s in sentences if match(s.raw)]
            for sentence in matched:
                ok = any(overlaps(sentence, part) for g in golds for part in g)
                stats[cat][2] += ok
                hits[cat].append((pdf, sentence.raw, ok))
            stats[cat][3] += len(matched)
            for g in golds:
                found = any(overlaps(s, part) for s in matched for part in g)
                stats[cat][0] += found
                stats[cat][1] += 1
                if not found:
                    misses[cat].append((pdf, " <omitted> ".join(part.raw for part in g)))
    return stats, hits, misses


def prf(found: int, total: int, correct: int, matched: int) -> tuple[float, float, float]:
    p = correct / matched if matched else 0.0
    r = found / total if total else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--show", help="print misses and false positives of this category")
    ap.add_argument("--limit", type=int, default=25)
    ap.add_argument(
        "--splitter", choices=("simple", "pipeline"), default="simple",
        help="simple: this script's splitter; pipeline: pipeline.plan.sentences.sentence_spans (the engine's)",
    )
    args = ap.parse_args()

    with open(args.data / "categories.csv", encoding="utf-8") as fh:
        categories = [(row["category"], row["description"]) for row in csv.DictReader(fh)]
    gold: dict[tuple[str, str], list[list[Text]]] = defaultdict(list)
    with open(args.data / "clauses.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row["text"].strip():
                gold[(row["pdf_file"], row["category"].lower())].append(gold_parts(row["text"]))
    split = split_sentences if args.splitter == "simple" else engine_sentences
    docs = {pdf: [Text(s) for page in pages for s in split(page)] for pdf, pages in page_texts(args.data).items()}

    engine = {m.name: m.matches for m in load_matchers(categories)}
    baseline = {name: keyword_matcher(name) for name, _ in categories}
    everything = {name: (lambda s: True) for name, _ in categories}
    results = {label: score(docs, gold, ms) for label, ms in (("engine", engine), ("keyword", baseline))}
    ceiling = score(docs, gold, everything)[0]

    print(f"{'category':36} {'gold':>4} {'ceil':>5} | {'P':>5} {'R':>5} {'F1':>5} {'n':>5} | {'kwP':>5} {'kwR':>5} {'kwF1':>5}")
    totals = {label: [0, 0, 0, 0] for label in results}
    for name, _ in categories:
        row = f"{name[:36]:36} {results['engine'][0][name][1]:4d} {ceiling[name][0] / max(ceiling[name][1], 1):5.2f} |"
        for label, (stats, _, _) in results.items():
            totals[label] = [a + b for a, b in zip(totals[label], stats[name])]
            p, r, f = prf(*stats[name])
            row += f" {p:5.2f} {r:5.2f} {f:5.2f}" + (f" {stats[name][3]:5d} |" if label == "engine" else "")
        print(row)
    ceil_found = sum(v[0] for v in ceiling.values())
    print(f"\nsentences: {sum(map(len, docs.values()))}; recall ceiling of splitter+metric: {ceil_found / totals['engine'][1]:.3f}")
    for label, t in totals.items():
        p, r, f = prf(*t)
        print(f"micro {label:8} P={p:.3f} R={r:.3f} F1={f:.3f}  (found {t[0]}/{t[1]} gold, {t[2]}/{t[3]} sentences correct)")

    if args.show:
        _, hits, misses = results["engine"]
        print(f"\n== misses: {args.show}")
        for pdf, g in misses[args.show][: args.limit]:
            print(f"- [{pdf[:30]}] {g[:400]!r}")
        print(f"\n== false positives: {args.show}")
        for pdf, s, ok in [h for h in hits[args.show] if not h[2]][: args.limit]:
            print(f"- [{pdf[:30]}] {s[:400]!r}")


if __name__ == "__main__":
    main()
