"""The output folder's lock: one run at a time per output folder.

Contract: `output_lock(output)` holds an exclusive `flock` on `OUT/.docpipe.lock` for the duration of the
`with` block, or raises `LockedError` at once when another process holds it. The kernel drops the lock
when its holder dies (even by SIGKILL), so a lock is never stale. The holder's pid is written into the
file, for the message the next run prints. The descriptor is not inherited across exec; a child made
by fork() without exec (multiprocessing's fork start method) would hold the lock until it exits.
The block receives a `HeldLock`: its `check()` raises `OutputError` when the lock file was deleted or
replaced under the run (another run could then lock a new file and work beside this one); the run store
calls it before each record. A folder where the lock cannot be created because it is read-only or full
raises `OutputError` (exit code 6); any other failure `ConfigError`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from pipeline.errors import ConfigError, LockedError, OutputError

OUTPUT_ERRNOS = {errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG}  # the folder, not the configuration


def lock_path(output: Path) -> Path:
    return output / ".docpipe.lock"  # hidden, and a file: `OUT/*/` stays the documents' folders


class HeldLock:
    """The lock while it is held: `check()` that its file is still the one locked."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self.fd = path, fd

    def check(self) -> None:
        try:
            same = os.stat(self.path).st_ino == os.fstat(self.fd).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            raise OutputError(
                f"the output folder's lock file {self.path} was deleted (or replaced) while this run held it: "
                "another docpipe run could now work on the same folder, so this run stops here (what it "
                "recorded so far stays valid). Do not delete the lock file; run again to finish.")


@contextlib.contextmanager
def output_lock(output: Path) -> Iterator[HeldLock]:
    """Hold the output folder's lock (see the module docstring)."""
    path = lock_path(output)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        kind = OutputError if exc.errno in OUTPUT_ERRNOS else ConfigError
        raise kind(f"output folder {output}: cannot create its lock file: {exc.strerror or exc}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            raise LockedError(
                f"another docpipe run (pid {holder}) is working on {output}; this run exits without doing "
                "anything (exit code 4). Wait for it to finish, or stop it first."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield HeldLock(path, fd)
    finally:
        os.close(fd)  # closing the only descriptor releases the flock
