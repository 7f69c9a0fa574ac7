"""Wall time per document: a PDF that is slow to read is stopped, its worker killed, the run goes on."""

import os
import signal
import threading
import time

import pytest

from pipeline.config import RunConfig
from pipeline.errors import InputError
from pipeline.run.reader import DocumentReader
from tests.hostile_pdfs import raw_pdf, text_stream


def slow_pdf(path, pages=20, ops=20_000):
    """~0.5–2 s of pypdf work per page and 20,000 ops (text-showing operators), one stream shared by all pages."""
    stream = b"BT /F1 10 Tf 40 800 Td " + b"(a) Tj 1 0 Td " * ops + b"ET"
    return raw_pdf(path, [stream], pages=[0] * pages, flate=True)


def test_slow_document_is_stopped_and_the_next_one_is_read(tmp_path):
    good = raw_pdf(tmp_path / "good.pdf", [text_stream(["Quick to read."])])
    slow = slow_pdf(tmp_path / "slow.pdf")
    with DocumentReader(RunConfig(ingest_timeout=1.0)) as reader:
        assert "Quick" in reader.read(good).pages[0].text
        first = reader._process
        started = time.monotonic()
        with pytest.raises(InputError, match=r"longer than 1 s \(--ingest-timeout\)"):
            reader.read(slow)
        assert time.monotonic() - started < 10  # not the ~40 s a full read takes
        assert first is not None and first.poll() is not None  # the stuck worker is gone
        assert "Quick" in reader.read(good).pages[0].text  # a fresh worker
    assert reader._process is None


def test_reader_errors_come_back_as_input_errors(tmp_path):
    (tmp_path / "notes.pdf").write_text("not a pdf")
    with DocumentReader(RunConfig(ingest_timeout=30)) as reader:
        with pytest.raises(InputError, match="not a PDF"):
            reader.read(tmp_path / "notes.pdf")
        with pytest.raises(InputError, match="not a regular file"):
            reader.read(tmp_path)


def test_a_worker_that_dies_fails_that_document_only(tmp_path):
    slow = slow_pdf(tmp_path / "slow.pdf")
    good = raw_pdf(tmp_path / "good.pdf", [text_stream(["Still fine."])])
    with DocumentReader(RunConfig(ingest_timeout=60)) as reader:
        reader.read(good)  # starts the worker
        pid = reader._process.pid
        threading.Timer(0.5, os.kill, (pid, signal.SIGKILL)).start()  # as the kernel's OOM killer would
        with pytest.raises(InputError, match=r"process died \(exit code -9\)"):
            reader.read(slow)
        assert "Still fine" in reader.read(good).pages[0].text


def test_zero_timeout_reads_in_process(tmp_path):
    good = raw_pdf(tmp_path / "good.pdf", [text_stream(["In process."])])
    reader = DocumentReader(RunConfig(ingest_timeout=0))
    assert "In process" in reader.read(good).pages[0].text and reader._process is None


def test_a_worker_that_died_while_idle_is_replaced(tmp_path):
    good = raw_pdf(tmp_path / "good.pdf", [text_stream(["Again."])])
    with DocumentReader(RunConfig(ingest_timeout=60)) as reader:
        reader.read(good)
        reader._process.kill()
        reader._process.wait()
        assert "Again" in reader.read(good).pages[0].text


def test_running_out_of_memory_fails_the_document_with_that_cause(monkeypatch):
    from pipeline.run import reader as worker

    def allocate() -> None:
        raise MemoryError  # what an allocation over RLIMIT_AS raises in Python code

    monkeypatch.setattr(worker, "_address_limit", 1_500_000_000)
    with pytest.raises(worker.PrepareError) as failure:
        worker._stage("ingest", allocate)
    assert isinstance(failure.value.error, InputError)
    assert str(failure.value) == ("ingest: out of memory reading the PDF: over the reader process's address-space "
                                  "limit of 1,500 MB (set from --max-document-mb)")
