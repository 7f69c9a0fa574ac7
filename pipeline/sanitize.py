"""Document text is data: make it inert before it reaches a model's tokenizer, a terminal or a log.

Contract:
- `neutralize(text, controls)` returns `text` with a WORD JOINER (U+2060, invisible, no meaning) inserted
  after the first character of every occurrence — overlapping ones included — of every control string
  (the tokenizer's special and added tokens: `<|im_start|>`, `<think>`, …). Why it cannot turn back into a
  control token: U+2060 is in no control string, so an occurrence of one in the output contains no inserted
  character and is a contiguous slice of the input; every such slice was broken between its first and
  second character. (Control strings of one character cannot be broken this way: they are replaced by
  U+FFFD.) Tokenizers match added tokens on the raw text (Qwen3: `normalized: false` for all of them), and
  U+2060 survives NFC as well. Citations still verify: `cite.normalize` drops U+2060.
- `break_framing(text)` does the same to strings that look like docpipe's own prompt framing (`FRAMING`:
  the `<document>` / `<points>` fences, `=== page N ===` headers, a `Task:` line — what `prompts/*.j2`
  write around data), in any case and spacing, with a WORD JOINER between every two characters of each
  match: every pattern needs two adjacent characters of its match, so none can match the result (a test
  checks this on hostile text). A document can then neither close the document, nor start a task, nor
  fake a page header (and so steer which page a quote is attributed to); citations still verify against
  the original text, since `cite.normalize` drops U+2060.
- `printable(text)` replaces control characters (terminal escapes, NUL, …) with visible stand-ins, for
  text shown to people: Markdown, and (with secrets redacted) terminal lines and logs (`for_terminal`,
  `SafeFormatter`). `path_text(path)` is a file name as storable text, whatever bytes it holds.
"""

from __future__ import annotations

import copy
import functools
import logging
import re
from collections.abc import Callable, Sequence

from pipeline.secrets import redact

JOINER = "\u2060"  # WORD JOINER: zero width, not a letter; cite.normalize drops it
REPLACEMENT = "\ufffd"


@functools.cache
def _pattern(controls: tuple[str, ...]) -> re.Pattern[str] | None:
    strings = sorted({c for c in controls if c}, key=len, reverse=True)
    if not strings:
        return None
    if any(JOINER in s for s in strings):  # the proof in the module docstring needs this
        raise ValueError("a control string contains U+2060; neutralize cannot break it")
    # A lookahead matches at every position where some control string starts, overlaps included.
    return re.compile("(?=(?:" + "|".join(re.escape(s) for s in strings) + "))")


def neutralize(text: str, controls: Sequence[str]) -> str:
    """`text` with every control string broken (see the module docstring)."""
    if not text:
        return text
    singles = [c for c in controls if len(c) == 1]
    for char in singles:
        text = text.replace(char, REPLACEMENT)
    pattern = _pattern(tuple(c for c in controls if len(c) > 1))
    if pattern is None:
        return text
    cuts = sorted({m.start() + 1 for m in pattern.finditer(text)})
    if not cuts:
        return text
    parts, last = [], 0
    for cut in cuts:
        parts.append(text[last:cut])
        last = cut
    parts.append(text[last:])
    return JOINER.join(parts)


# What prompts/*.j2 write around document text and model output; keep in step with the templates
# (tests/test_sanitize.py renders them and checks that their framing lines are caught here).
FRAMING = re.compile(
    r"</?\s*(?:document|points)\b"  # the fences: <document pages="…">, </document>, <points …>, </points>
    r"|={2,}\s*page\b"  # page headers: === page 12 (printed label: xii) ===
    r"|^[ \t]*task\s*:",  # the instructions after the document: Task: …
    re.IGNORECASE | re.MULTILINE,
)


def break_framing(text: str) -> str:
    """`text` with everything that looks like prompt framing broken (see the module docstring)."""
    if not text:
        return text
    return FRAMING.sub(lambda match: JOINER.join(match.group()), text)


def neutralizer(controls: Sequence[str]) -> Callable[[object], object]:
    """A jinja2 `finalize` hook: every string a template prints from its data has its control strings
    neutralised and its framing look-alikes broken; the template's own text (its markup, turn structure,
    page headers) is not."""
    frozen = tuple(controls)

    def finalize(value: object) -> object:
        return break_framing(neutralize(value, frozen)) if isinstance(value, str) else value

    return finalize


def printable(text: str, newlines: bool = True) -> str:
    """Control characters as visible symbols (ESC → ␛, NUL → ␀); tabs kept, newlines kept unless
    `newlines=False` (then shown as ␤). For text put in front of people: it can no longer drive a
    terminal, or forge a line of a log or a Markdown heading."""
    return (_CONTROLS if newlines else _CONTROLS_AND_NEWLINES).sub(_visible, text)


_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROLS_AND_NEWLINES = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code == 0x0A:
        return "\u2424"
    if code < 0x20:
        return chr(0x2400 + code)  # the Control Pictures block: ␀ … ␟
    return "\u2421" if code == 0x7F else REPLACEMENT


def valid_unicode(text: str) -> str:
    """`text` with lone surrogates replaced by U+FFFD. pypdf decodes font maps with `surrogatepass`, so a
    broken or hostile ToUnicode map yields them, and JSON encoders and tokenizers refuse them."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")  # keeps proper pairs
    return text


def path_text(path: object) -> str:
    """A path as text that can be stored anywhere: bytes of a file name that are not UTF-8 (held by
    Python as lone surrogates, which JSON encoders refuse) are written as `\\xff` escapes."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def for_terminal(text: str) -> str:
    """One line fit for a terminal or a log: control characters visible, secrets redacted."""
    return redact(printable(text, newlines=False))


class SafeFormatter(logging.Formatter):
    """Log lines that a hostile file name or PDF cannot steer: each message is one line with its control
    characters made visible, and known secrets are redacted from the whole record (traceback included)."""

    def format(self, record: logging.LogRecord) -> str:
        record = copy.copy(record)
        record.msg, record.args = printable(record.getMessage(), newlines=False), None
        return redact(printable(super().format(record)))
