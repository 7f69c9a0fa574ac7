import sqlite3

from pipeline.models import DocReport
from pipeline.store.runstore import RunStore, store_path


def _report(status="ok"):
    return DocReport(doc_id="abc", path="in/a.pdf", status=status, route=None, prompt_tokens=10, output_tokens=2)


def test_record_counts_attempts_and_keeps_one_config_per_document(tmp_path):
    with RunStore(tmp_path) as store:
        run = store.begin_run("k1")
        store.record(run, "k1", "sha-a", _report("failed"), final=False)
        store.record(run, "k1", "sha-a", _report(), final=True)
        (row,) = store.results("k1").values()
        assert row.attempts == 2 and row.report.status == "ok" and row.final
        store.record(run, "k2", "sha-a", _report(), final=True)  # the folder now holds k2's result
        assert store.results("k1") == {} and list(store.results("k2")) == ["sha-a"]


def test_wal_mode_and_runs_left_running_are_marked_killed(tmp_path):
    with RunStore(tmp_path) as store:
        store.begin_run("k")
    with RunStore(tmp_path) as store:
        store.begin_run("k")
        assert store.db.execute("SELECT state FROM runs ORDER BY run_id").fetchall() == [("killed",), ("running",)]
    with sqlite3.connect(store_path(tmp_path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_known_files_remember_signature_and_key(tmp_path):
    with RunStore(tmp_path) as store:
        run = store.begin_run("k")
        store.note_files(run, [("in/a.pdf", (10, 1, 2, 3), "sha-a"), ("in/fifo.pdf", None, "path:in/fifo.pdf")])
        assert store.known_files() == {"in/a.pdf": ((10, 1, 2, 3), "sha-a"),
                                       "in/fifo.pdf": ((None, None, None, None), "path:in/fifo.pdf")}
