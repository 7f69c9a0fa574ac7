"""Benchmark: the cite stage alone on the 2,415-page R reference manual (the refman benchmark's document).

    python bench/cite_speed.py [--pdf PATH] [--quotes N] [--seed S] [--repeat R]

Running all of bench/refman.py takes minutes on a shared 2-core machine, and its citations are the extractive
engine's verbatim sentences (exact matches), so its `assemble` seconds say little about the matcher. This
script reads refman.pdf once (fetched by bench/refman.py into bench/.cache/; pages cached there as JSON),
draws `--quotes` sentences per class with a fixed seed and times `PageIndex(pages).locate` on each class:

- `verbatim`: a sentence as it stands on its page, claimed on that page (the exact matcher);
- `respaced`: the same with its whitespace changed (the normalised matcher);
- `dropped_word`: one word of the sentence left out (the fuzzy matcher);
- `number_changed`: a digit changed, claimed on the right page (fuzzy, then refused near the claim: unverified).
- `made_up`: 20–300 characters drawn from letters, CJK, digits and punctuation — found nowhere, as the quotes of
  a model that invents them (or of dummy weights on the GPU bench) are: every page is searched in vain.

It prints one JSON object: wall and CPU seconds per class (best of `--repeat`; on a shared machine CPU time is
the steadier figure), CPU microseconds per quote, and what the quotes were found as. The quotes depend only on
the pages and the seed, so the same command measures any version of `pipeline.cite` (point PYTHONPATH at
another checkout to compare).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from pipeline.cite.locate import PageIndex  # noqa: E402
from pipeline.models import Page  # noqa: E402

SENTENCE = re.compile(r"[A-Z][^.!?\n]{40,200}[.!?]")


def load_pages(pdf: Path) -> list[Page]:
    """The PDF's pages (pipeline ingest, pypdfium2 when installed), cached as JSON beside the PDF's cache."""
    cache = REPO / "bench" / ".cache" / f"{pdf.stem}-pages.json"
    if cache.is_file():
        return [Page(**p) for p in json.loads(cache.read_text())]
    from pipeline.ingest.read import ingest

    try:
        doc = ingest(pdf, backend="pypdfium2")
    except Exception:  # noqa: BLE001 - pypdfium2 missing: the slower default reader gives the same text
        doc = ingest(pdf)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps([p.model_dump() for p in doc.pages]))
    return list(doc.pages)


def draw(pages: list[Page], n: int, seed: int) -> dict[str, list[tuple[str, int]]]:
    """`n` quotes per class: (quote, claimed page number)."""
    rng = random.Random(seed)
    found = [(m.group(), p.page_number) for p in pages for m in SENTENCE.finditer(p.text)]
    picked = rng.sample(found, min(n, len(found)))
    numbered = [(s, page) for s, page in found if re.search(r"\d", s)]
    classes: dict[str, list[tuple[str, int]]] = {"verbatim": picked, "respaced": [], "dropped_word": [],
                                                  "number_changed": [], "made_up": []}
    for sentence, page in picked:
        classes["respaced"].append(("  ".join(sentence.split()) + " ", page))
        words = sentence.split()
        del words[rng.randrange(1, len(words) - 1)]
        classes["dropped_word"].append((" ".join(words), page))
    for sentence, page in rng.sample(numbered, min(n, len(numbered))):
        at = rng.choice([m.start() for m in re.finditer(r"\d", sentence)])
        digit = str((int(sentence[at]) + rng.randrange(1, 10)) % 10)
        classes["number_changed"].append((sentence[:at] + digit + sentence[at + 1:], page))
    alphabet = "abcdefghijklmnopqrstuvwxyz      ,.;:()0123456789的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年"
    classes["made_up"] = [("".join(rng.choice(alphabet) for _ in range(rng.randint(20, 300))),
                           rng.randint(1, len(pages))) for _ in range(n)]
    return classes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pdf", type=Path, default=None, help="default: refman.pdf (fetched by bench/refman.py)")
    parser.add_argument("--quotes", type=int, default=300, help="quotes per class")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="time each class this many times, keep the best")
    args = parser.parse_args()
    if args.pdf is None:
        from refman import fetch

        args.pdf = fetch()
    pages = load_pages(args.pdf)
    out: dict[str, object] = {"pdf": args.pdf.name, "pages": len(pages), "seed": args.seed}
    for name, quotes in draw(pages, args.quotes, args.seed).items():
        best, best_cpu, results = float("inf"), float("inf"), Counter[str]()
        for _ in range(args.repeat):
            index = PageIndex(pages)  # fresh: normalised page text is built lazily, inside the timing
            started, cpu = time.perf_counter(), time.process_time()
            cites = [index.locate(q, page) for q, page in quotes]
            best = min(best, time.perf_counter() - started)
            best_cpu = min(best_cpu, time.process_time() - cpu)
            results = Counter(f"{c.status}/{c.match}" for c in cites)
        out[name] = {"quotes": len(quotes), "seconds": round(best, 3), "cpu_seconds": round(best_cpu, 3),
                     "cpu_us_per_quote": round(best_cpu / max(1, len(quotes)) * 1e6), "found_as": dict(results)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
