"""Test helper, not part of docpipe: put this folder first on PYTHONPATH and Python loads it at start-up.
Every attempt to reach the network (connect, send to an address, resolve a name) then fails, and is
written to the file named by $DOCPIPE_NETGUARD_LOG, so an attempt that the code swallows is still seen.
Unix-domain sockets (local IPC) stay allowed."""

import os
import socket

_LOG = os.environ.get("DOCPIPE_NETGUARD_LOG")


def _record(what: str) -> None:
    if _LOG:
        with open(_LOG, "a", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()} {what}\n")


def _guard(name: str):
    original = getattr(socket.socket, name)

    def method(self, *args, **kwargs):
        if self.family == getattr(socket, "AF_UNIX", None):
            return original(self, *args, **kwargs)
        _record(f"socket.{name}{args!r}")
        raise OSError(101, "network blocked by docpipe's test guard")

    return method


for _name in ("connect", "connect_ex", "sendto", "sendmsg"):
    setattr(socket.socket, _name, _guard(_name))


def _no_lookup(*args, **kwargs):
    _record(f"getaddrinfo{args!r}")
    raise socket.gaierror(socket.EAI_NONAME, "name resolution blocked by docpipe's test guard")


socket.getaddrinfo = _no_lookup
