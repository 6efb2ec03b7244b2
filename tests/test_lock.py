"""One writer per data folder: a second run waits, then fails naming the holder; a killed
holder leaves no stale lock."""

import os
import signal
import subprocess
import sys
import time

import pytest

from crossrec.errors import ConcurrentRunError
from crossrec.lock import exclusive

HOLD = """
import sys, time
from pathlib import Path
from crossrec.lock import exclusive
with exclusive(Path(sys.argv[1]), "warehouse", "test holder", 5):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def holder(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "held"
    yield proc
    proc.kill()
    proc.wait()


def test_second_writer_waits_then_fails_naming_the_holder(tmp_path, holder):
    t0 = time.monotonic()
    with pytest.raises(ConcurrentRunError, match=f"pid {holder.pid} .*test holder"):
        with exclusive(tmp_path, "warehouse", "second", timeout_s=1.0):
            pytest.fail("entered a held lock")
    assert time.monotonic() - t0 >= 1.0


def test_other_locks_are_independent(tmp_path, holder):
    with exclusive(tmp_path, "clicks", "ingest", timeout_s=0):
        pass


def test_a_killed_holder_releases_the_lock(tmp_path, holder):
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with exclusive(tmp_path, "warehouse", "after the crash", timeout_s=5) as path:
        assert "after the crash" in path.read_text()


def test_a_waiting_writer_gets_the_lock_when_the_holder_ends(tmp_path, holder):
    subprocess.Popen(["sh", "-c", f"sleep 1; kill {holder.pid}"])
    with exclusive(tmp_path, "warehouse", "patient", timeout_s=30):
        pass
