"""Benchmark: can the citation checker be fooled? True and false quotes generated from real contracts.

    python bench/cite_checker.py PDF_FOLDER [--per-class N] [--seed S] [--backend pypdf|pypdfium2]
                                 [--json OUT] [--markdown] [--show K]

Reads every PDF in PDF_FOLDER with docpipe's ingest, picks sentences that occur once in their document
(seeded), and makes quotes of each class, each with the page it is claimed on:

true (must be found on their page, `verified` or `relocated`):
  verbatim        the page's text as it stands;
  respaced        the same with its whitespace changed (runs collapsed, line breaks to spaces, a double space);
  wrong_page      verbatim, claimed on another page of the document (found means `relocated` to its page);
  dropped_filler  one inner filler word left out ("the", "a", "any", "such", …);
  ocr_slips       one to three ordinary words with an OCR-like typo (rn→m, e→c, l→1, cl→d, …);
false (must come back `unverified`):
  negation_added    "not" after a modal ("shall" → "shall not"), or "non-" before a word;
  negation_removed  "not"/"no"/"never" left out, "without" → "with", "non-x" → "x", "cannot" → "can";
  number_changed    one number (digits or a written number) replaced by another;
  name_replaced     one capitalised name replaced by a capitalised word of another contract that this
                    document never uses (and that is no OCR look-alike, ≥ 80 similar, of the name);
  date_shifted      a date's day, month or year moved ("January 1, 2019", "1st day of May, 2019", "1/2/2019",
                    "May 2019", or a year alone);
  other_contract    a sentence of another contract that is not in this document (normalised).
No false quote occurs in its document's normalised text (else it would be true). It prints one JSON object:
per class the count and the rate (true: found on their page; false: accepted), with `--markdown` a table.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz import fuzz

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))  # after PYTHONPATH: another checkout can be judged on the same quotes

from pipeline.cite.locate import PageIndex, normalize  # noqa: E402
from pipeline.models import Page  # noqa: E402

TRUE_CLASSES = ("verbatim", "respaced", "wrong_page", "dropped_filler", "ocr_slips")
FALSE_CLASSES = ("negation_added", "negation_removed", "number_changed", "name_replaced", "date_shifted",
                 "other_contract")
TARGETS = {"true": 0.99, "dropped_filler": 0.90, "false": 0.005}
SENTENCE = re.compile(r"(?<![\w/.,-])[A-Z(][^.;!?]{50,400}?[.;!?](?=\s|$)")  # from a word's start
PASSES = 10
FILLERS = ("the", "a", "an", "any", "such", "said", "that", "also", "all", "each", "then")
OCR = (("rn", "m"), ("m", "rn"), ("e", "c"), ("l", "1"), ("cl", "d"), ("h", "b"), ("i", "l"), ("o", "0"),
       ("u", "v"), ("t", "f"))
MODALS = re.compile(r"\b(shall|will|may|must|can|is|are|does|do)\b(?! not)")
NEGATION = re.compile(r"\b(?:not|no|never)\s+|\b(without)\b|\b(non)-(?=\w)|\b(cannot)\b")
WRITTEN_NUMBERS = ("three four five seven eight nine eleven twelve thirteen fourteen fifteen sixteen seventeen "
                   "eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand").split()
MONTHS = frozenset("january february march april may june july august september october november december".split())
# Capitalised at a sentence's start, never names (a copy, so that --load-quotes runs on any pipeline version).
FUNCTION_WORDS = frozenset(
    "a an the this that these those such any all each every either both some other another it its we our us "
    "you your he she his her they their them in on at to for of by with from as if upon and or but so then "
    "there here where when which who whom whose what shall will may must can should would could is are "
    "be been was were has have had do does did not no nor neither never none without unless except".split())
NUMBER = re.compile(r"\b\d[\d,]*(?:\.\d+)?\b|\b(?:" + "|".join(WRITTEN_NUMBERS) + r")\b", re.IGNORECASE)
PLAIN_SKIP = MONTHS | {"percent", "days", "months", "years", "weeks", "hours", "annual", "monthly", "annually"}
MONTH = "January|February|March|April|May|June|July|August|September|October|November|December"
DATE = re.compile(rf"\b(?:(?P<m1>{MONTH})\s+(?P<d1>\d{{1,2}}),?\s+(?P<y1>(?:19|20)\d\d)"
                  rf"|(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:day\s+of\s+)?(?P<m2>{MONTH}),?\s+(?P<y2>(?:19|20)\d\d)"
                  rf"|(?P<n3>\d{{1,2}})/(?P<d3>\d{{1,2}})/(?P<y3>(?:19|20)?\d\d)"
                  rf"|(?P<m4>{MONTH}),?\s+(?P<y4>(?:19|20)\d\d)|(?P<y5>(?:19|20)\d\d))\b")
NAME = re.compile(r"(?<=[a-z,;:()] )[A-Z][A-Za-z]{2,}\b")


@dataclass(frozen=True)
class Quote:
    kind: str
    doc: int
    text: str
    page: int  # the page the quote is true on (its source sentence's page)
    claimed: int


@dataclass(frozen=True)
class Sentence:
    doc: int
    page: int
    text: str  # as it stands on the page


def read(folder: Path, backend: str) -> list[list[Page]]:
    from pipeline.errors import PipelineError
    from pipeline.ingest.read import ingest

    docs = []
    for pdf in sorted(folder.glob("*.pdf")):
        try:
            docs.append(list(ingest(pdf, backend=backend).pages))  # type: ignore[arg-type]
        except PipelineError as exc:
            print(f"skipped {pdf.name}: {exc}", file=sys.stderr)
    return docs


def sentences(docs: list[list[Page]]) -> list[Sentence]:
    """Sentences of 8+ words that occur once in their document (normalised), so a found one has one page."""
    out = []
    for d, pages in enumerate(docs):
        whole = " ".join(normalize(p.text)[0] for p in pages)
        for page in pages:
            for m in SENTENCE.finditer(page.text):
                text = m.group()
                norm = normalize(text)[0]
                if len(text.split()) >= 8 and whole.count(norm) == 1 and sum(c.isalpha() for c in text) > len(text) / 2:
                    out.append(Sentence(d, page.page_number, text))
    return out


def _sub(
    pattern: re.Pattern[str], text: str, rng: random.Random, fix: Callable[[re.Match[str]], str | None]
) -> str | None:
    """`text` with one random match of `pattern` replaced by `fix(match)` (None: no such change possible)."""
    matches = list(pattern.finditer(text))
    rng.shuffle(matches)
    for m in matches:
        new = fix(m)
        if new is not None and new != m.group():
            return text[:m.start()] + new + text[m.end():]
    return None


def make_true(kind: str, s: Sentence, n_pages: int, rng: random.Random) -> tuple[str, int] | None:
    words = s.text.split()
    if kind == "verbatim":
        return s.text, s.page
    if kind == "respaced":
        spaced = " ".join(words)
        at = rng.randrange(1, len(words))
        spaced = " ".join(words[:at]) + rng.choice(["  ", "\n", " \n "]) + " ".join(words[at:])
        return (spaced, s.page) if spaced != s.text else None
    if kind == "wrong_page":
        others = [p for p in range(1, n_pages + 1) if p != s.page]
        return (s.text, rng.choice(others)) if others else None
    if kind == "dropped_filler":
        inner = [i for i, w in enumerate(words[1:-1], 1) if w.lower() in FILLERS]
        if not inner:
            return None
        drop = rng.choice(inner)
        return " ".join(words[:drop] + words[drop + 1:]), s.page
    if kind == "ocr_slips":
        plain = [i for i, w in enumerate(words) if w.isalpha() and w.islower() and len(w) >= 5
                 and w not in FUNCTION_WORDS and w not in PLAIN_SKIP and w not in WRITTEN_NUMBERS]
        if not plain:
            return None
        for i in rng.sample(plain, min(len(plain), rng.randint(1, 3))):
            options = [(a, b) for a, b in OCR if a in words[i]]
            if options:
                a, b = rng.choice(options)
                at = rng.choice([m.start() for m in re.finditer(re.escape(a), words[i])])
                words[i] = words[i][:at] + b + words[i][at + len(a):]
        slipped = " ".join(words)
        return (slipped, s.page) if slipped != " ".join(s.text.split()) else None
    raise ValueError(kind)


def make_false(kind: str, s: Sentence, pool: list[Sentence], names: dict[int, list[str]],
               rng: random.Random) -> str | None:
    text = s.text
    if kind == "negation_added":
        if rng.random() < 0.8:
            return _sub(MODALS, text, rng, lambda m: m.group() + " not")
        return _sub(re.compile(r"\b(exclusive|transferable|assignable|refundable|cancellable|binding)\b"), text,
                    rng, lambda m: "non-" + m.group() if text[max(0, m.start() - 4):m.start()] != "non-" else None)
    if kind == "negation_removed":
        def drop(m: re.Match[str]) -> str:
            return "with" if m.group(1) else "" if m.group(2) else "can" if m.group(3) else ""
        return _sub(NEGATION, text, rng, drop)
    if kind == "number_changed":
        def change(m: re.Match[str]) -> str:
            word = m.group()
            if word.lower() in WRITTEN_NUMBERS:
                return rng.choice([w for w in WRITTEN_NUMBERS if w != word.lower()])
            digits = [i for i, c in enumerate(word) if c.isdigit()]
            i = rng.choice(digits)
            return word[:i] + str((int(word[i]) + rng.randint(1, 9)) % 10) + word[i + 1:]
        return _sub(NUMBER, text, rng, change)
    if kind == "name_replaced":
        own = set(w.lower() for w in names[s.doc])
        def replace(m: re.Match[str]) -> str | None:
            if m.group().lower() in FUNCTION_WORDS or m.group().lower() in MONTHS:
                return None
            others = [w for d, ws in names.items() if d != s.doc for w in ws[:50]]
            for _ in range(20):
                new = rng.choice(others)
                if new.lower() not in own and fuzz.ratio(new.lower(), m.group().lower()) < 80:
                    return new
            return None
        return _sub(NAME, text, rng, replace)
    if kind == "date_shifted":
        return _sub(DATE, text, rng, lambda m: _shift(m, rng))
    if kind == "other_contract":
        others = [o for o in pool if o.doc != s.doc]
        return rng.choice(others).text if others else None
    raise ValueError(kind)


def _shift(m: re.Match[str], rng: random.Random) -> str:
    date = m.group()
    months = MONTH.split("|")
    part = rng.choice(["day", "month", "year"])
    month = m.group("m1") or m.group("m2") or m.group("m4")
    if part == "month" and month:
        return date.replace(month, rng.choice([x for x in months if x != month]), 1)
    year = m.group("y1") or m.group("y2") or m.group("y3") or m.group("y4") or m.group("y5")
    if part == "year" or not (m.group("d1") or m.group("d2") or m.group("d3")):
        return date[: date.rindex(year)] + str(int(year) + rng.choice([-1, 1])) + date[date.rindex(year) + len(year):]
    day = m.group("d1") or m.group("d2") or m.group("d3")
    start = m.start("d1") if m.group("d1") else m.start("d2") if m.group("d2") else m.start("d3")
    start -= m.start()
    new = str((int(day) + rng.randint(1, 27) - 1) % 28 + 1)
    return date[:start] + new + date[start + len(day):]


def generate(docs: list[list[Page]], per_class: int, seed: int) -> list[Quote]:
    """Up to `per_class` quotes of every class (fewer when the documents hold fewer candidates)."""
    rng = random.Random(seed)
    pool = sentences(docs)
    rng.shuffle(pool)
    names = {d: sorted({m.group() for p in pages for m in NAME.finditer(p.text)
                        if m.group().lower() not in FUNCTION_WORDS}) for d, pages in enumerate(docs)}
    for d in names:
        rng.shuffle(names[d])
    wholes = [" ".join(normalize(p.text)[0] for p in pages) for pages in docs]
    quotes: list[Quote] = []
    for kind in TRUE_CLASSES + FALSE_CLASSES:
        made, seen = 0, set()
        # A false class may change one sentence several ways (another digit, another date part), until it has
        # `per_class` distinct quotes or PASSES rounds over the sentences.
        for s in pool * (PASSES if kind in FALSE_CLASSES else 1):
            if made >= per_class:
                break
            if kind in TRUE_CLASSES:
                got = make_true(kind, s, len(docs[s.doc]), rng)
                if got is None:
                    continue
                quotes.append(Quote(kind, s.doc, got[0], s.page, got[1]))
            else:
                text = make_false(kind, s, pool, names, rng)
                if text is None or (s.doc, text) in seen or normalize(text)[0] in wholes[s.doc]:
                    continue
                seen.add((s.doc, text))
                quotes.append(Quote(kind, s.doc, text, s.page, s.page))
            made += 1
    return quotes


def evaluate(docs: list[list[Page]], quotes: list[Quote], show: int = 0) -> dict[str, dict[str, float]]:
    """Per class: count and rate (true classes: found on their page; false classes: accepted)."""
    indexes = [PageIndex(pages) for pages in docs]
    rows: dict[str, dict[str, float]] = {}
    for kind in TRUE_CLASSES + FALSE_CLASSES:
        mine = [q for q in quotes if q.kind == kind]
        hits = 0
        for q in mine:
            c = indexes[q.doc].locate(q.text, q.claimed)
            hit = (c.status != "unverified" and c.page_number == q.page) if kind in TRUE_CLASSES \
                else c.status != "unverified"
            hits += hit
            if show and (hit != (kind in TRUE_CLASSES)):
                show -= 1
                print(f"[{kind}] {c.status}/{c.match} {c.score} page {c.page_number} (true {q.page}): "
                      f"{q.text!r}", file=sys.stderr)
        rows[kind] = {"quotes": len(mine), "hits": hits, "rate": round(hits / len(mine), 4) if mine else 0.0}
    return rows


def markdown(rows: dict[str, dict[str, float]]) -> str:
    lines = ["| class | kind | quotes | found on their page / accepted | rate | target |",
             "|---|---|---:|---:|---:|---|"]
    for kind, row in rows.items():
        true = kind in TRUE_CLASSES
        target = f"≥ {TARGETS['dropped_filler' if kind == 'dropped_filler' else 'true']:.0%}" if true \
            else f"≤ {TARGETS['false']:.1%}"
        lines.append(f"| {kind} | {'true' if true else 'false'} | {row['quotes']} | {row['hits']} | "
                     f"{row['rate']:.2%} | {target} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="a folder of PDFs (e.g. the CUAD dev set's pdf/)")
    parser.add_argument("--per-class", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", default="pypdf", choices=("pypdf", "pypdfium2"))
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table too")
    parser.add_argument("--show", type=int, default=0, help="print this many misjudged quotes to stderr")
    parser.add_argument("--save-quotes", type=Path, help="write the generated quotes here (JSON lines)")
    parser.add_argument("--load-quotes", type=Path, help="judge these quotes instead of generating (e.g. to run "
                        "an older pipeline on the same set)")
    args = parser.parse_args()
    docs = read(args.folder, args.backend)
    if args.load_quotes:
        quotes = [Quote(**json.loads(line)) for line in args.load_quotes.read_text().splitlines()]
    else:
        quotes = generate(docs, args.per_class, args.seed)
    if args.save_quotes:
        args.save_quotes.write_text("".join(json.dumps(q.__dict__) + "\n" for q in quotes))
    rows = evaluate(docs, quotes, args.show)
    result = {"documents": len(docs), "pages": sum(len(d) for d in docs), "seed": args.seed,
              "per_class": args.per_class, "backend": args.backend, "classes": rows}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if args.markdown:
        print(markdown(rows))


if __name__ == "__main__":
    main()
