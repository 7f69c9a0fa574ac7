import json
import logging

from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.logs import JsonFormatter
from tests.conftest import write_contracts


def test_json_formatter_keeps_extra_fields():
    record = logging.makeLogRecord({"name": "pipeline", "levelname": "WARNING", "msg": "%s failed",
                                    "args": ("a.pdf",), "doc_id": "abc", "path": "in/a.pdf"})
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "a.pdf failed" and line["doc_id"] == "abc" and line["level"] == "warning"


def test_log_format_json_writes_one_json_object_per_stderr_line(tmp_path):
    folder = tmp_path / "in"
    write_contracts(folder, 1)
    (folder / "empty.pdf").write_bytes(b"")
    result = CliRunner().invoke(app, ["run", str(folder), "-o", str(tmp_path / "o"), "--log-format", "json", "-v"])
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    failure = next(line for line in lines if line.get("status") == "failed")
    assert failure["level"] == "warning" and failure["path"].endswith("empty.pdf") and failure["stage"] == "ingest"
    assert any(line.get("status") == "ok" for line in lines)
    (summary,) = [json.loads(line) for line in result.stdout.splitlines()]  # the closing summary is JSON too
    assert summary["message"].startswith("2 documents: 1 ok") and summary["totals"]["failed"] == 1


def test_bad_log_format_is_a_usage_error(tmp_path):
    assert CliRunner().invoke(app, ["run", str(tmp_path), "--log-format", "xml"]).exit_code == 2


def test_a_childs_records_and_stray_lines_become_records_of_the_parent(caplog):
    import io

    from pipeline.logs import _ChildFormatter, forward_child_stderr

    child = logging.makeLogRecord({"name": "pypdf._reader", "levelno": logging.WARNING, "levelname": "WARNING",
                                   "msg": "incorrect startxref pointer(%d)", "args": (3,), "created": 1.5e9})
    stream = io.BytesIO((_ChildFormatter().format(child) + "\nsome library printed this\n\n").encode())
    caplog.set_level(logging.WARNING)
    forward_child_stderr(stream, "pipeline.ingest.reader").join(5)
    first, second = caplog.records
    assert (first.name, first.getMessage(), first.created) == ("pypdf._reader", "incorrect startxref pointer(3)", 1.5e9)
    assert (second.name, second.levelname, second.getMessage()) == ("pipeline.ingest.reader", "WARNING",
                                                                     "some library printed this")
