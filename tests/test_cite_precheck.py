"""The fuzzy matcher's q-gram pre-check (`PageIndex._reachable`) never turns away a page that rapidfuzz would
have matched: it only spares the alignment of quotes that cannot match (made up, or noise)."""

import random
import string
from pathlib import Path

import pytest
from rapidfuzz import fuzz

from pipeline.cite.locate import FUZZY_MIN, PageIndex, normalize
from pipeline.ingest.read import ingest

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


@pytest.fixture(scope="module")
def index():
    return PageIndex(ingest(SAMPLES / "cybergy-affiliate-agreement.pdf").pages)


def _edited(rng: random.Random, text: str, edits: int) -> str:
    """`text` with `edits` random insertions, deletions and substitutions (OCR-like damage)."""
    chars = list(text)
    for _ in range(edits):
        at = rng.randrange(len(chars))
        kind = rng.choice("ids")
        letter = rng.choice(string.ascii_lowercase + " ")
        if kind == "i":
            chars.insert(at, letter)
        elif kind == "d" and len(chars) > 1:
            del chars[at]
        else:
            chars[at] = letter
    return "".join(chars)


def _needles(index: PageIndex, rng: random.Random) -> list[str]:
    """Spans of the pages damaged from not at all to well past the threshold, shuffled words, and noise."""
    needles = []
    for _ in range(400):
        page = rng.randrange(len(index.pages))
        text = normalize(index.pages[page].text)[0]
        if len(text) < 60:
            continue
        length = rng.randint(20, min(400, len(text)))
        start = rng.randrange(len(text) - length + 1)
        needles.append(normalize(_edited(rng, text[start:start + length], rng.randint(0, length // 6)))[0])
    words = " ".join(p.text for p in index.pages).split()
    needles += [normalize(" ".join(rng.choice(words) for _ in range(rng.randint(4, 40))))[0] for _ in range(100)]
    needles += ["".join(rng.choice(string.printable) for _ in range(rng.randint(20, 300))) for _ in range(50)]
    return [n for n in needles if len(n) >= 20]


def test_the_precheck_never_refuses_a_page_rapidfuzz_would_match(index):
    rng = random.Random(7)
    refused = matched = 0
    for needle in _needles(index, rng):
        reachable = index._reachable(needle)
        for i in range(len(index.pages)):
            score = fuzz.partial_ratio(needle, index._normalized(i)[0])
            if score >= FUZZY_MIN:
                matched += 1
                assert reachable[i], (needle, i, score)
            elif not reachable[i]:
                refused += 1
    # the check is worth having: it refuses most pages of made-up quotes, and the test saw real matches
    assert matched > 200 and refused > 1_000


def test_a_quote_damaged_within_the_threshold_is_still_found(index):
    text = index.pages[1].text
    sentence = " ".join(text.split()[10:40])
    damaged = sentence.replace("e", "é", 1)[:-3] + "xyz"
    assert index.locate(damaged, 2).status == "verified"


def _normalize_char_by_char(text: str) -> tuple[str, list[int]]:
    """`normalize` as first written, one character at a time: the definition its fast path must keep."""
    import unicodedata

    from pipeline.cite.locate import _DROP, _LINE_BREAK_HYPHEN, _RULE, _TRANSLATE

    out: list[str] = []
    offsets: list[int] = []
    space, i = True, 0
    while i < len(text):
        ch = text[i]
        if ch in _DROP:
            i += 1
        elif (m := _RULE.match(text, i)) is not None:
            if not space:
                out.append(" ")
                offsets.append(i)
            space, i = True, m.end()
        elif ch == "-" and (m := _LINE_BREAK_HYPHEN.match(text, i)):
            out.append("-")
            offsets.append(i)
            space, i = False, m.end()
        elif ch.isspace():
            if not space:
                out.append(" ")
                offsets.append(i)
            space, i = True, i + 1
        else:
            for c in unicodedata.normalize("NFKC", ch.translate(_TRANSLATE)).lower():
                out.append(c)
                offsets.append(i)
            space, i = False, i + 1
    if out and out[-1] == " ":
        out.pop()
        offsets.pop()
    return "".join(out), offsets


def test_normalize_keeps_its_character_by_character_definition(index):
    rng = random.Random(3)
    alphabet = ("aZ09 +-_.=*~`'\"\u2018\u201c\u2014\u2013\u00ad\u200b\ufb01\u00c5\t\n\r \u2026\u00b7\u00a0\u2003"
                "\x1c\u0130\u00df")
    texts = [p.text for p in index.pages]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))) for _ in range(20_000)]
    for text in texts:
        assert normalize(text) == _normalize_char_by_char(text), repr(text)
