"""Issue 18: the output folder itself fails — disk full (a small tmpfs, and a file-size limit), read-only,
the lock file deleted mid-run — on real contracts: a clear message and exit code, no traceback,
run_report.json where the folder still takes it, and a next run that finishes truthfully.

The tmpfs tests mount file systems and need root (they skip otherwise); the RLIMIT_FSIZE test runs anywhere.
"""

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.config import RunConfig
from pipeline.engines.extractive import ExtractiveEngine
from pipeline.errors import OutputError
from pipeline.run.core import run
from pipeline.store.lock import lock_path
from tests.conftest import REPO, SAMPLES
from tests.exports_check import assert_truthful

SAMPLE_PDFS = sorted(SAMPLES.glob("*.pdf"))


def docpipe(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def inbox(tmp_path: Path) -> tuple[Path, list[Path]]:
    folder = tmp_path / "inbox"
    folder.mkdir()
    for sample in SAMPLE_PDFS:
        shutil.copyfile(sample, folder / sample.name)
    return folder, [folder / s.name for s in SAMPLE_PDFS]


@pytest.fixture
def tmpfs(tmp_path: Path):
    """A mount point for a small tmpfs: `mount(options)` (re)mounts it; unmounted at the end."""
    point = tmp_path / "mnt"
    point.mkdir()
    mounted = []

    def mount(options: str) -> Path:
        args = ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)] if not mounted else \
            ["mount", "-o", f"remount,{options}", str(point)]
        done = subprocess.run(args, capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
        mounted.append(True)
        return point

    yield mount
    if mounted:
        subprocess.run(["umount", str(point)], check=False)


def test_disk_full_on_a_small_tmpfs_ends_clearly_and_the_next_run_finishes(tmp_path, tmpfs):
    folder, files = inbox(tmp_path)
    out = tmpfs("size=512k") / "out"  # a run on these three contracts writes ~900 KB
    result = docpipe("run", folder, "-o", out)
    assert result.exit_code == 6, result.output
    assert "the disk is full" in result.output and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    if (out / "run_report.json").is_file():  # where the folder still took it
        assert "disk is full" in json.loads((out / "run_report.json").read_text())["error"]
    status = docpipe("status", out)
    assert status.exit_code == 0 and "abandoned" in status.stdout
    tmpfs("size=8m")  # space freed
    again = docpipe("run", folder, "-o", out)
    assert again.exit_code == 0, again.output
    assert_truthful(out, files)
    assert not list(out.rglob("*.tmp"))


FSIZE_RUN = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))
from pipeline.cli import app
sys.argv = ["docpipe", *sys.argv[2:]]
app()
"""


def test_a_file_size_limit_ends_clearly_without_root(tmp_path):
    folder, files = inbox(tmp_path)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", FSIZE_RUN, str(40_000), "run", str(folder), "-o", str(out)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 6, done.stderr
    assert "size limit" in done.stderr and "Traceback" not in done.stderr
    assert docpipe("run", folder, "-o", out).exit_code == 0
    assert_truthful(out, files)


def test_a_read_only_output_folder_status_reads_report_and_run_exit_6(tmp_path, tmpfs):
    folder, files = inbox(tmp_path)
    out = tmpfs("size=8m") / "out"
    assert docpipe("run", folder, "-o", out).exit_code == 0
    tmpfs("ro")
    status = docpipe("status", out)
    assert status.exit_code == 0 and "3 done" in status.stdout
    assert json.loads(docpipe("status", out, "--json").stdout)["last_run"]["state"] == "finished"
    report = docpipe("report", out)
    assert report.exit_code == 6 and "read-only" in report.output.lower() and "Traceback" not in report.output
    rerun = docpipe("run", folder, "-o", out)
    assert rerun.exit_code == 6 and "read-only" in rerun.output.lower()
    assert docpipe("prune", out).exit_code == 6
    tmpfs("rw")
    assert_truthful(out, files)


class LockDeleter(ExtractiveEngine):
    """The real extractive engine; while it works on the first batch, someone deletes the lock file."""

    def __init__(self, output: Path) -> None:
        super().__init__()
        self.output = output

    def generate(self, requests):
        lock_path(self.output).unlink(missing_ok=True)
        return super().generate(requests)


def test_a_deleted_lock_file_stops_the_run_with_a_report(tmp_path):
    folder, files = inbox(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(OutputError, match="lock file .* was deleted"):
        run([folder], out, RunConfig(batch_documents=1, jobs=1), engine=LockDeleter(out))
    assert OutputError.exit_code == 6
    report = json.loads((out / "run_report.json").read_text())
    assert "was deleted" in report["error"] and report["documents"] == []  # nothing recorded after the loss
    assert docpipe("status", out).exit_code == 0
    assert docpipe("run", folder, "-o", out).exit_code == 0
    assert_truthful(out, files)
