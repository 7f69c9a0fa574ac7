"""Stage ingest, OCR: pages without a usable text layer get their text recognised from the page image.

Contract:
- `OcrOptions.of(config)` is what a reader process needs (None for `--ocr never`); `require_ocr(config)` raises
  `ConfigError` (exit 2) before any work when `--ocr always` is asked for without the OCR extra.
- `unusable(page, ink)` says why a page's text layer is not usable, or None: no text; replacement characters
  (U+FFFD, private-use glyphs: a font without a usable encoding); or too little text for its ink (a scan
  with a stamped header). `ink` is the share of dark pixels of the page rendered at `INK_DPI` (None: unknown,
  so that criterion is skipped); it is only measured for pages with little text, so text pages cost nothing.
- `apply_ocr(handle, password, pages, options, limits)` returns the pages with each page that needs it
  (`auto`: unusable; `always`: every page) replaced by its OCR text: same slot, number and label,
  `source="ocr"`, `ocr_confidence` (mean over characters), `low_confidence` under the threshold, status `ok`
  (`empty` when nothing was recognised) — or `failed` with the cause when rendering or recognition raised.
  Without the extra (`auto`), the pages are returned unchanged and one log line names those that need OCR.
- Limits: the per-page image is at most `max_pixels` (a larger page is rendered at a lower dpi), OCR text obeys
  `max_page_chars`, and the whole document stays under the reader process's `--ingest-timeout` (wall clock,
  enforced by killing the process: the hard bound). Each page's rendering and recognition also get
  `page_timeout` seconds of the process's CPU time (`--ocr-page-timeout`; CPU, not wall, so that a page's fate
  does not depend on how loaded the machine is): a page over it is `failed` ("OCR failed: over the per-page
  limit …"), the next page goes on. The limit is a SIGPROF timer whose handler raises in the main thread, so
  it lands between Python-level steps: a single long call into pdfium or onnxruntime (one network run) finishes
  first, and only `--ingest-timeout` cuts that short. It applies where OCR runs in the main thread (the reader
  processes; in-process reading, `--ingest-timeout 0`, from the main thread); elsewhere pages have no limit of
  their own.
- Engines: rapidocr (the default; the OCR extra) or, with `--ocr-engine tesseract`, Debian's `tesseract` run as
  a child process (`pipeline.ingest.tesseract`); "installed" and the key's versions are the chosen engine's.
- Offline: the rapidocr wheel ships its models (PP-OCRv6 detection and recognition, the orientation classifier)
  and its default configuration points at them; nothing is fetched at run time (tests/test_ocr.py checks this
  under tests/netguard). One engine per process, loaded on first use; onnxruntime gets one thread, as the
  reader processes are the parallelism.

Imported only by reader processes when OCR may run: `import pipeline` never loads onnxruntime or rapidocr.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.metadata
import importlib.util
import io
import logging
import signal
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

from pipeline.config import RunConfig
from pipeline.errors import ConfigError, PipelineError
from pipeline.ingest.layout import lines
from pipeline.install import install_hint
from pipeline.models import Page

if TYPE_CHECKING:
    from pipeline.ingest.read import Limits

log = logging.getLogger(__name__)

INK_DPI = 36  # enough to measure how much of a page is ink; a letter page is 306 x 396 pixels
INK_MAX_PIXELS = 1_000_000  # a larger page is measured at a lower resolution
INK_LEVEL = 128  # a pixel darker than this (0-255) is ink
FEW_CHARS = 200  # pages with at least this many visible characters are trusted to have a text layer
MIN_INK = 0.005  # a page with less ink than this is blank whatever its text
# Visible characters per unit of ink share (bench/ocr_corpus.py --calibrate, 60 CUAD contracts): median 145,000,
# lowest text pages ~5,100; two pages that are pictures with a caption ~370. Below this a page has far too
# little text for its ink (a scan with a stamped header).
MIN_CHARS_PER_INK = 2_000
TOO_LITTLE = "too little text for its ink"
BAD_CHAR_SHARE = 0.10  # replacement or private-use characters among visible ones: the text is unusable
IMAGE_DPI = 100  # page images written for the review report (--ocr-images)
_warned_install = False


@dataclasses.dataclass(frozen=True)
class OcrOptions:
    """What a reader process needs to know about OCR (picklable)."""

    mode: str  # auto | always
    engine: str = "rapidocr"
    dpi: int = 300
    max_pixels: int = 25_000_000
    min_confidence: float = 0.80
    images: bool = False
    installed: bool = True
    page_timeout: float = 60.0  # CPU seconds per page; 0: none

    @classmethod
    def of(cls, config: RunConfig) -> OcrOptions | None:
        if config.ocr == "never":
            return None
        return cls(config.ocr, config.ocr_engine, config.ocr_dpi, config.ocr_max_pixels, config.ocr_min_confidence,
                   config.ocr_images, ocr_installed(config.ocr_engine), config.ocr_page_timeout)


def ocr_installed(engine: str = "rapidocr") -> bool:
    """Whether `engine` can run: the OCR extra importable (cheap: imports nothing); for tesseract, pypdfium2
    importable and `tesseract` on PATH."""
    if engine == "tesseract":
        from pipeline.ingest import tesseract

        return tesseract.installed() and all(importlib.util.find_spec(name) is not None for name in ("pypdfium2", "PIL"))
    needed = ("rapidocr", "onnxruntime", "pypdfium2")
    return engine == "rapidocr" and all(importlib.util.find_spec(name) is not None for name in needed)


def _install_hint(engine: str) -> str:
    if engine == "tesseract":
        return "put Debian's tesseract on PATH (apt install tesseract-ocr) and install pypdfium2"
    return install_hint("ocr")


def preload() -> None:
    """Import what checking pages for OCR needs (pdfium, numpy), so that a reader process pays for it at its
    start, not inside the first document's time limit. The OCR engine itself loads on the first OCR page."""
    if importlib.util.find_spec("pypdfium2") is not None:
        import numpy  # noqa: F401

        import pipeline.ingest.pdfium  # noqa: F401


def require_ocr(config: RunConfig) -> None:
    """ConfigError (exit 2) when `--ocr always` cannot run: before any document is read."""
    if config.ocr == "always" and not ocr_installed(config.ocr_engine):
        raise ConfigError(f"--ocr always with --ocr-engine {config.ocr_engine} cannot run here: "
                          f"{_install_hint(config.ocr_engine)}")


def ocr_key(config: RunConfig) -> dict[str, object] | None:
    """What of OCR shapes results, for the config key: None when OCR cannot run (never, or auto without the
    extra: results are today's), else the mode, settings, and the engine's and its runtime's versions. The
    per-page time limit is in it: a page over it is a failed page, so another limit can give another result."""
    options = OcrOptions.of(config)
    if options is None or not options.installed:
        return None
    if options.engine == "tesseract":
        from pipeline.ingest import tesseract

        versions = {"tesseract": tesseract.version(), "pypdfium2": importlib.metadata.version("pypdfium2")}
    else:
        versions = {name: importlib.metadata.version(name) for name in ("rapidocr", "onnxruntime", "pypdfium2")}
    return dataclasses.asdict(options) | {"versions": versions}


def unusable(page: Page, ink: float | None) -> str | None:
    """Why `page`'s text layer is not usable (see the module docstring), or None."""
    if page.status == "failed":
        return None  # extraction raised: OCR is not a repair for a broken page
    visible = [c for c in page.text if not c.isspace()]
    if not visible:
        return "no text"
    bad = sum(c == "\ufffd" or "\ue000" <= c <= "\uf8ff" for c in visible)
    if bad >= BAD_CHAR_SHARE * len(visible):
        return "replacement characters"
    if ink is not None and ink >= MIN_INK and len(visible) < MIN_CHARS_PER_INK * ink:
        return TOO_LITTLE
    return None


def needs_ink(page: Page) -> bool:
    """Whether `unusable` needs the page's ink to decide (only pages with little text)."""
    return page.status != "failed" and _visible(page.text) < FEW_CHARS


def apply_ocr(
    handle: BinaryIO, password: str | None, pages: tuple[Page, ...], options: OcrOptions, limits: Limits,
    name: str = "",
) -> tuple[Page, ...]:
    """The pages, OCR'd where needed (see the module docstring); `name` names the file in log lines."""
    if not options.installed:
        _say_needed(handle, password, pages, name, options.engine)
        return pages
    if options.mode == "auto" and not any(needs_ink(p) or unusable(p, None) for p in pages):
        return pages  # every page has plenty of clean text: pdfium need not even open the file
    from pipeline.ingest.pdfium import open_pdf

    out = list(pages)
    with contextlib.ExitStack() as stack:
        try:
            pdf = stack.enter_context(open_pdf(handle, password))
        except PipelineError as exc:  # pypdf read it, pdfium cannot: the pages stay as read, the document lives
            log.warning("%s: cannot open the PDF for OCR (%s); its pages stay as read", name, exc)
            return pages
        for index, page in enumerate(pages):
            why = None
            if options.mode == "auto":
                why = unusable(page, _ink(pdf, index) if needs_ink(page) else None)
                if why is None:
                    continue
            read = ocr_page(pdf, page, options, limits)
            if why == TOO_LITTLE and _visible(read.text) <= _visible(page.text):
                continue  # a picture, not a scan of text: OCR found no more than the text layer has
            out[index] = read
    return tuple(out)


def _visible(text: str) -> int:
    return sum(not c.isspace() for c in text)


def ocr_page(pdf: Any, page: Page, options: OcrOptions, limits: Limits) -> Page:
    """One page replaced by its OCR text, or `failed` with the cause (it keeps its slot either way)."""
    from pipeline.ingest.read import failed_page, text_page

    number, label = page.page_number, page.page_label
    try:
        if options.engine == "rapidocr":
            _engine(options.engine)  # loaded once per process, outside the limit: the first page must not pay for it
        with page_time_limit(options.page_timeout):
            image = _render(pdf, number - 1, options.dpi, options.max_pixels)
            text, confidence = recognise(image, options.engine)
    except (Exception, PageTimeout) as exc:  # noqa: BLE001 — one page's OCR must not lose the document
        failed = failed_page(number, label, exc)
        return failed.model_copy(update={"source": "ocr", "error": f"OCR failed: {failed.error}"})
    read = text_page(number, label, text, limits)  # the per-page character limit applies to OCR text too
    update: dict[str, object] = {"source": "ocr", "ocr_confidence": confidence,
                                 "low_confidence": confidence is not None and confidence < options.min_confidence}
    if options.images:
        update |= {"image": f"pages/{number}.png", "image_png": _png(image, options.dpi)}
    return read.model_copy(update=update)


class PageTimeout(BaseException):
    """One page's OCR went over `--ocr-page-timeout`. A BaseException, so that no `except Exception` inside the
    OCR engine or pdfium's bindings can swallow it and carry on with the page."""


@contextlib.contextmanager
def page_time_limit(seconds: float) -> Iterator[None]:
    """Raise PageTimeout in the body once it has used `seconds` of the process's CPU time (see the module
    docstring). No limit when `seconds` is 0 or outside the main thread (a signal handler runs only there)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(signum: int, frame: object) -> None:
        raise PageTimeout(f"over the per-page limit of {seconds:g} CPU seconds (--ocr-page-timeout)")

    previous = signal.signal(signal.SIGPROF, expired)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        try:
            signal.setitimer(signal.ITIMER_PROF, 0)  # disarm first: a late signal must not reach the caller
        finally:  # restored even when a signal that came just before the disarming raises here
            signal.signal(signal.SIGPROF, previous)


def recognise(image: Any, engine: str = "rapidocr") -> tuple[str, float | None]:
    """Text of a page image (an RGB numpy array), lines top to bottom, and its mean confidence weighted by
    characters (None when nothing was recognised). Tesseract: `pipeline.ingest.tesseract.recognise`."""
    if engine == "tesseract":
        from pipeline.ingest import tesseract

        return tesseract.recognise(image)
    result = _engine(engine)(image)
    if result.boxes is None or not result.txts:
        return "", None
    boxes = [(box, text, float(score)) for box, text, score in zip(result.boxes, result.txts, result.scores)]
    text = "\n".join(" ".join(t for _, t, _ in line) for line in lines(boxes))
    chars = sum(len(t) for _, t, _ in boxes)
    confidence = sum(s * len(t) for _, t, s in boxes) / chars if chars else None
    return text, None if confidence is None else round(confidence, 4)


@functools.cache
def _engine(name: str) -> Any:
    if name != "rapidocr":
        raise ConfigError(f"unknown OCR engine {name!r}")
    from rapidocr import RapidOCR

    # One onnxruntime thread: each reader process is one worker; more threads would only fight over the cores.
    threads = {f"EngineConfig.onnxruntime.{k}": 1 for k in ("intra_op_num_threads", "inter_op_num_threads")}
    # max_side_len: rapidocr shrinks larger images to 2,000 pixels, which would undo a 300 dpi render for the
    # recogniser. Detection alone runs on the page shrunk to 1,600 pixels (~145 dpi for a letter page): on a
    # sample page as accurate as full size (CER 1.4% v 1.5%) at less than half the time and memory. One line
    # per recognition batch: lines are padded to the widest of a batch, and 6 wide lines took ~1.1 GB (~0.6).
    # No line-orientation classifier: it turned upright lines of monospaced contract text upside down, and the
    # recogniser then read noise (a CUAD page: CER 17.6% with it, 0.13% without). Pages are taken as upright.
    return RapidOCR(params={"Global.log_level": "warning", "Global.max_side_len": 4000, "Global.use_cls": False,
                            "Det.limit_type": "max", "Det.limit_side_len": 1600, "Rec.rec_batch_num": 1, **threads})


def _render(pdf: Any, index: int, dpi: int, max_pixels: int) -> Any:
    """The page as an RGB numpy array at `dpi`, lowered so that the image has at most `max_pixels`."""
    import numpy

    page = pdf[index]
    try:
        width, height = page.get_size()  # points (1/72 inch)
        scale = min(dpi / 72, (max_pixels / max(width * height, 1.0)) ** 0.5)
        bitmap = page.render(scale=scale, grayscale=True, may_draw_forms=True)
        gray = bitmap.to_numpy().reshape(bitmap.height, bitmap.width)
        return numpy.ascontiguousarray(numpy.repeat(gray[:, :, None], 3, axis=2))
    finally:
        page.close()


def _ink(pdf: Any, index: int) -> float | None:
    """Share of dark pixels of the page at INK_DPI; None when the page cannot be rendered."""
    page = pdf[index]
    try:
        width, height = page.get_size()
        scale = min(INK_DPI / 72, (INK_MAX_PIXELS / max(width * height, 1.0)) ** 0.5)  # a poster-sized page too
        bitmap = page.render(scale=scale, grayscale=True)
        gray = bitmap.to_numpy()
        return float((gray < INK_LEVEL).mean()) if gray.size else 0.0
    except Exception:  # noqa: BLE001 — an unrenderable page: decide on its text alone
        return None
    finally:
        page.close()


def _png(image: Any, dpi: int) -> bytes:
    from PIL import Image

    picture = Image.fromarray(image[:, :, 0])
    if dpi > IMAGE_DPI:
        picture = picture.resize((max(1, picture.width * IMAGE_DPI // dpi), max(1, picture.height * IMAGE_DPI // dpi)))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _say_needed(handle: BinaryIO, password: str | None, pages: Sequence[Page], name: str,
                engine: str = "rapidocr") -> None:
    """Without the extra: one log line naming the pages that need OCR (ink measured when pdfium is here)."""
    global _warned_install
    inks: dict[int, float | None] = {}
    if importlib.util.find_spec("pypdfium2") is not None and any(needs_ink(p) for p in pages):
        from pipeline.ingest.pdfium import open_pdf

        try:
            with open_pdf(handle, password) as pdf:
                inks = {i: _ink(pdf, i) for i, p in enumerate(pages) if needs_ink(p)}
        except Exception:  # noqa: BLE001 — only a hint: without pdfium's view, the text criteria still hold
            inks = {}
    needed = [(p.page_number, why) for i, p in enumerate(pages) if (why := unusable(p, inks.get(i)))]
    if not needed:
        return
    listed = ", ".join(f"{n} ({why})" for n, why in needed[:20]) + (" …" if len(needed) > 20 else "")
    hint = "" if _warned_install else f"; to read them: {_install_hint(engine)}"
    _warned_install = True
    log.warning("%s: %d page(s) have no usable text layer and need OCR: %s%s", name, len(needed), listed, hint)
