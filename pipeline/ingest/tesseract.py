"""Stage ingest, OCR with Tesseract: the second engine (`--ocr-engine tesseract`), offered where Debian's
`tesseract` is on PATH (`apt install tesseract-ocr`, English data included); the default engine, rapidocr, does
not need it.

Contract:
- `installed()`: whether `tesseract` is on PATH; `version()`: its version line (part of the result key).
- `recognise(image)`: the text of a page image (an RGB numpy array), lines in Tesseract's reading order (block,
  paragraph, line), words joined by one space, and the mean word confidence weighted by characters (0-1; None
  when nothing was recognised). Raises `InputError` when tesseract fails, `PageTimeout` when it ran out of
  the page's time.
- Limits: tesseract runs as a child process, one thread (OMP_THREAD_LIMIT=1: the reader processes are the
  parallelism), its CPU time capped (RLIMIT_CPU) at what is left of the page's `--ocr-page-timeout`: the
  reader's own timer counts only the reader's CPU, not a child's. The reader's `--ingest-timeout` kills the
  reader, whose child then dies of its closed pipes or its CPU cap.
"""

from __future__ import annotations

import functools
import io
import math
import os
import resource
import shutil
import signal
import subprocess
from typing import Any

from pipeline.errors import InputError

LANGUAGE = "eng"


def installed() -> bool:
    return shutil.which("tesseract") is not None


@functools.cache
def version() -> str:
    done = subprocess.run(["tesseract", "--version"], capture_output=True, text=True, timeout=60, check=False)
    return (done.stdout or done.stderr).splitlines()[0].strip()


def recognise(image: Any) -> tuple[str, float | None]:
    """See the module docstring."""
    from PIL import Image

    from pipeline.ingest.ocr import PageTimeout

    png = io.BytesIO()
    Image.fromarray(image[:, :, 0]).save(png, format="PNG")  # grey: the renderer's three channels are equal
    left = signal.getitimer(signal.ITIMER_PROF)[0]  # CPU seconds this page has left; 0: no limit armed
    cap = math.ceil(left) if left > 0 else None

    def limit() -> None:  # in the child, before exec: the page's remaining CPU time is the child's
        if cap is not None:
            resource.setrlimit(resource.RLIMIT_CPU, (cap, cap))

    done = subprocess.run(["tesseract", "-", "-", "-l", LANGUAGE, "tsv"], input=png.getvalue(), capture_output=True,
                          env={**os.environ, "OMP_THREAD_LIMIT": "1"}, preexec_fn=limit, check=False)
    if done.returncode in (-signal.SIGXCPU, -signal.SIGKILL) and cap is not None:
        raise PageTimeout(f"tesseract went over the page's CPU time ({cap} s left of --ocr-page-timeout)")
    if done.returncode:
        raise InputError(f"tesseract exit code {done.returncode}: {done.stderr.decode(errors='replace')[-300:]}")
    return _parse(done.stdout.decode("utf-8", errors="replace"))


def _parse(tsv: str) -> tuple[str, float | None]:
    """Tesseract's TSV (one row per word at level 5, with its block, paragraph and line) → text, confidence."""
    lines: dict[tuple[str, str, str], list[str]] = {}
    weighted = chars = 0.0
    for row in tsv.splitlines()[1:]:
        cells = row.split("\t")
        if len(cells) < 12 or cells[0] != "5" or not cells[11].strip():
            continue
        word, confidence = cells[11].strip(), float(cells[10])
        lines.setdefault((cells[2], cells[3], cells[4]), []).append(word)  # dicts keep Tesseract's order
        if confidence >= 0:
            weighted, chars = weighted + confidence / 100 * len(word), chars + len(word)
    text = "\n".join(" ".join(words) for words in lines.values())
    return text, round(weighted / chars, 4) if chars else None
