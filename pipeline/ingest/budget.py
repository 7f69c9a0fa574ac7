"""A per-document memory bound for reading PDFs: what one PDF's streams may decode to in total, and the
address space a reader process may use.

Contract:
- `decode_budget(limit_bytes)` is a context manager; while it is active (in this thread or task), every
  stream pypdf decodes is charged to it, and the decode that takes the total over `limit_bytes` raises
  `DocumentTooLarge` (an `InputError`) — also when pypdf itself would swallow it, because
  `check()` raises it again (the reader calls it after each page). pypdf's own limits cap one stream
  (`--max-decompressed-mb`); this caps their sum (`--max-document-mb`), which is what stays in memory:
  pypdf keeps every decoded stream of a reader cached, so a PDF of many 70 MB streams grew to gigabytes.
  pdfium (`--pdf-backend pypdfium2`) decodes in C, outside this count: the address-space limit covers it.
- `limit_address_space(max_document_mb)` sets RLIMIT_AS on the calling process (a reader worker, after its
  imports) to its address space now + `ADDRESS_SPACE_FACTOR` × the document budget + `ADDRESS_SPACE_HEADROOM`
  (the tokenizer, thread stacks and malloc arenas reserve address space they barely touch); it returns the
  limit in bytes, or None where the platform has no RLIMIT_AS. An allocation beyond it fails (MemoryError,
  or the reader dies), which fails that one document.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Callable, Iterator

from pipeline.errors import InputError

MB = 1_000_000
ADDRESS_SPACE_FACTOR = 4  # decoded data, the copies a decoder makes on the way, and the text drawn from it
ADDRESS_SPACE_HEADROOM = 2048 * MB  # tokenizer, OCR models, thread stacks and arenas: reserved, mostly untouched


# pypdf's limits on what one stream may decode to (the same the reader sets from --max-decompressed-mb).
_OUTPUT_LIMITS = ("zlib_maximum_output_length", "lzw_maximum_output_length", "run_length_maximum_output_length",
                  "jbig2_maximum_output_length", "brotli_maximum_output_length",
                  "array_based_stream_maximum_output_length")


class DocumentTooLarge(InputError):
    """The PDF's streams decode to more than the per-document budget."""


class _Budget:
    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0
        self.breach: DocumentTooLarge | None = None

    def charge(self, size: int) -> None:
        self.used += size
        if self.used > self.limit and self.breach is None:
            self.breach = DocumentTooLarge(
                f"the PDF's content decodes to more than {self.limit // MB:,} MB in total (--max-document-mb); "
                f"stopped at {self.used // MB:,} MB: a decompression bomb spread over many streams?")
        if self.breach is not None:
            raise self.breach

    def decode(self, work: Callable[[], bytes]) -> bytes:
        """`work()` (one stream's decoding) with pypdf's per-stream output limits lowered to what is left of
        the budget, so that the stream that breaches it stops there instead of being decoded whole first:
        memory stays at the budget, not the budget plus one stream."""
        import pypdf
        from pypdf.errors import LimitReachedError

        self.check()
        left = self.limit - self.used
        current = pypdf.get_configuration()
        lowered = {name: left for name in _OUTPUT_LIMITS
                   if isinstance(getattr(current, name, None), int) and getattr(current, name) > left}
        with pypdf.apply_configuration(**lowered):
            try:
                data = work()
            except LimitReachedError:
                if lowered:  # the budget's limit, not pypdf's own, may be the one reached
                    self.charge(left + 1)
                raise
        self.charge(len(data))
        return data

    def check(self) -> None:
        if self.breach is not None:
            raise self.breach


_current: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("docpipe_decode_budget", default=None)


@contextlib.contextmanager
def decode_budget(limit_bytes: int) -> Iterator[_Budget]:
    """Charge every stream pypdf decodes in this context to a budget of `limit_bytes` (module docstring)."""
    _install_pypdf_hook()
    budget = _Budget(limit_bytes)
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)


def _install_pypdf_hook() -> None:
    # pypdf's stream objects import `decode_stream_data` from `pypdf.filters` at each call, so wrapping the
    # module attribute sees every decode; outside a budget the wrapper only passes the data through.
    import pypdf.filters

    original = pypdf.filters.decode_stream_data
    if getattr(original, "_docpipe_budget", False):
        return

    def counted(stream: object) -> bytes:
        budget = _current.get()
        if budget is None:
            return original(stream)  # type: ignore[arg-type]
        return budget.decode(lambda: original(stream))  # type: ignore[arg-type]

    counted._docpipe_budget = True  # type: ignore[attr-defined]
    pypdf.filters.decode_stream_data = counted  # type: ignore[assignment]


def limit_address_space(max_document_mb: int, vm_size: Callable[[], int | None] | None = None) -> int | None:
    """Set RLIMIT_AS for this process (module docstring); the limit in bytes, or None when not possible."""
    try:
        import resource
    except ImportError:  # not on this platform (Windows)
        return None
    now = (vm_size or _vm_size)()
    if now is None:
        return None
    limit = now + ADDRESS_SPACE_FACTOR * max_document_mb * MB + ADDRESS_SPACE_HEADROOM
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    return limit


def _vm_size() -> int | None:
    """This process's address space (VmSize) in bytes; None where /proc is missing."""
    try:
        with open(f"/proc/{os.getpid()}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
