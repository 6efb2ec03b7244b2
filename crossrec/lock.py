"""One writer at a time: an advisory file lock per piece of state (the warehouse run, the
click lake), held for a whole run.

``flock`` locks belong to the open file, so the operating system drops them when the holder
dies, even by SIGKILL: a crashed run never leaves a stale lock behind. A second run waits up to
a timeout, then fails with a message naming the holder; it never writes beside the first.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from crossrec.errors import ConcurrentRunError
from crossrec.layout import Layout

POLL_S = 0.5


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return "an unknown process"
    return (f"pid {info.get('pid')} on {info.get('host')} ({info.get('what')}, "
            f"since {info.get('since')})")


@contextmanager
def exclusive(data_dir: Path, name: str, what: str, timeout_s: float) -> Iterator[Path]:
    """Hold ``<data_dir>/.locks/<name>.lock`` for the block; wait up to ``timeout_s``."""
    if not name.replace("-", "").isalnum():
        raise ValueError(f"invalid lock name {name!r}")
    path = Layout(data_dir).locks / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ConcurrentRunError(
                        f"{data_dir}: {name} is locked by {_holder(path)}; waited "
                        f"{timeout_s:g} s ([run] lock_timeout_s). Let that run finish, or stop "
                        f"it: the lock goes with its process.") from None
                time.sleep(POLL_S)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                  "what": what,
                                  "since": datetime.now(UTC).isoformat(timespec="seconds")}
                                 ).encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing the file releases the lock
