"""Keep a terminal's Ctrl-C away from an engine's own processes, so that docpipe alone decides how they stop.

A terminal sends SIGINT to its whole foreground process group. vLLM's engine-core process (and its workers)
are in docpipe's group, so they would receive it too, abort every request in flight and die before docpipe
has recorded what was finished (issue 22). Ignoring SIGINT there is no help: vLLM's processes install their
own SIGINT handlers. So inside `own_process_group()` every process docpipe starts begins in a process group
of its own (its children follow it): a forked child moves itself (an at-fork hook), and multiprocessing's
"spawn" children — vLLM's choice on the CPU, and wherever CUDA is already initialised — are started with
`posix_spawn(setpgroup=0)` in place of `multiprocessing.util.spawnv_passfds` for the duration of the block.
The terminal's SIGINT then reaches docpipe only: its stop handler records what is done, and closing the engine
stops those processes. SIGTERM and SIGKILL sent to a pid are untouched.
"""

from __future__ import annotations

import multiprocessing.util
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_state = {"shielding": False, "registered": False}
_lock = threading.Lock()


def _after_fork_in_child() -> None:
    if _state["shielding"]:
        _state["shielding"] = False  # this child's own children stay in its (new) group
        try:
            os.setpgid(0, 0)
        except OSError:  # already a session or group leader: nothing to move
            pass


def _spawnv_passfds_in_own_group(path: str, args: list[str], passfds: tuple[int, ...]) -> int:
    """`multiprocessing.util.spawnv_passfds`, the child starting in a new process group. As there, only
    `passfds` reach the child (every other descriptor Python opens is non-inheritable)."""
    fds = sorted(map(int, passfds))
    for fd in fds:
        os.set_inheritable(fd, True)
    try:
        return os.posix_spawn(path, list(args), os.environ, setpgroup=0)
    finally:
        for fd in fds:
            os.set_inheritable(fd, False)


@contextmanager
def own_process_group() -> Iterator[None]:
    """Processes started in this block do not receive SIGINT sent to docpipe's process group."""
    with _lock:
        if not _state["registered"]:
            os.register_at_fork(after_in_child=_after_fork_in_child)
            _state["registered"] = True
        _state["shielding"] = True
        spawnv_passfds, multiprocessing.util.spawnv_passfds = (multiprocessing.util.spawnv_passfds,
                                                               _spawnv_passfds_in_own_group)
    try:
        yield
    finally:
        with _lock:
            _state["shielding"] = False
            multiprocessing.util.spawnv_passfds = spawnv_passfds
