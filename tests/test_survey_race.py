"""Issue 18: a file overwritten, truncated or deleted after the survey hashed it, on real contracts.

The change is made for real between the survey and the read: the survey runs, then the file is changed on
disk, then the runner's reader processes read it. The result must never pair one content with another's
text, and the failure must not be final.
"""

import shutil
from pathlib import Path

import pytest

from pipeline.config import RunConfig
from pipeline.run import core
from pipeline.run.core import run
from pipeline.store.runstore import RunStore
from tests.conftest import SAMPLES
from tests.exports_check import assert_truthful

CONFIG = RunConfig(jobs=1)
ATMOS, CYBERGY, NEON = (SAMPLES / name for name in (
    "atmos-transportation-service-agreement.pdf", "cybergy-affiliate-agreement.pdf",
    "neon-systems-distributor-agreement.pdf"))


def inbox(tmp_path: Path) -> tuple[Path, Path, Path]:
    folder = tmp_path / "in"
    folder.mkdir()
    a, b = folder / "a.pdf", folder / "b.pdf"
    shutil.copyfile(ATMOS, a)
    shutil.copyfile(CYBERGY, b)
    return folder, a, b


def after_survey(monkeypatch: pytest.MonkeyPatch, change) -> None:
    """Make `change()` happen right after the run's survey, before any document is read."""
    real = core.survey

    def survey_then_change(*args, **kwargs):
        work = real(*args, **kwargs)
        change()
        return work

    monkeypatch.setattr(core, "survey", survey_then_change)


def changed_rows(out: Path) -> dict[str, tuple[str, str | None, int]]:
    with RunStore(out, create=False) as store:
        return {r[0]: (r[1], r[2], r[3]) for r in store.db.execute("SELECT doc_key, status, final, attempts FROM results")}


def test_a_file_overwritten_after_the_survey_is_reported_changed_and_redone(tmp_path, monkeypatch):
    folder, a, b = inbox(tmp_path)
    out = tmp_path / "out"
    after_survey(monkeypatch, lambda: shutil.copyfile(NEON, a))  # what `cp other.pdf a.pdf` does mid-run
    report = run([folder], out, CONFIG)
    by_path = {d.path: d for d in report.documents}
    assert by_path[str(a)].status == "failed" and by_path[str(a)].errors[0].kind == "ChangedError"
    assert by_path[str(b)].status == "ok"
    rows = assert_truthful(out, [a, b])  # a.pdf: a failure that names no content; never ATMOS's or NEON's
    assert {r["source"]["path"]: r["source"]["sha256"] for r in rows}[str(a)] == ""
    monkeypatch.undo()
    again = run([folder], out, CONFIG)
    assert {d.path: d.status for d in again.documents} == {str(a): "ok", str(b): "ok"}
    assert again.totals["processed"] == 1
    assert_truthful(out, [a, b])  # a.pdf now: NEON's content, NEON's text
    # The content that was in a.pdf at survey time comes back under another name: read as itself.
    shutil.copyfile(ATMOS, folder / "c.pdf")
    third = run([folder], out, CONFIG)
    assert third.totals["processed"] == 1
    assert_truthful(out, [a, b, folder / "c.pdf"])


@pytest.mark.parametrize("how", ["truncate", "delete"])
def test_a_file_truncated_or_deleted_after_the_survey_is_not_a_final_failure(tmp_path, monkeypatch, how):
    folder, a, b = inbox(tmp_path)
    out = tmp_path / "out"
    intact = a.read_bytes()

    def damage() -> None:
        if how == "truncate":
            a.write_bytes(intact[: len(intact) // 2])
        else:
            a.unlink()

    after_survey(monkeypatch, damage)
    report = run([folder], out, CONFIG)
    failure = next(d for d in report.documents if d.path == str(a))
    assert failure.status == "failed" and failure.errors[0].kind == "ChangedError"
    assert "No such file" not in failure.errors[0].message
    assert not any(final for _, final, _ in changed_rows(out).values() if _ == "failed")
    if how == "delete":
        assert_truthful(out, [a, b])  # the row of a.pdf names no content: nothing false about ATMOS
    monkeypatch.undo()
    a.write_bytes(intact)  # restored: processed, not "failed (cached)"
    again = run([folder], out, CONFIG)
    restored = next(d for d in again.documents if d.path == str(a))
    assert restored.status == "ok" and not restored.cached
    assert_truthful(out, [a, b])
