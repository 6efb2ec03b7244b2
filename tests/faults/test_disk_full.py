"""A full disk while Parquet is written: the run fails with the OS error naming the file,
what readers see is unchanged, no half-written file is left, and the next run succeeds."""

from __future__ import annotations

import errno
import hashlib
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import RUN_DATE, tiny_settings
from tests.faults.test_sigkill import leftovers, snapshot


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _full(path) -> OSError:
    return OSError(errno.ENOSPC, "No space left on device", str(path))


def _rerun_fails_then_recovers(clean, tmp_path: Path, monkeypatch, where: str) -> None:
    from flows.nightly import nightly

    published, expected = clean

    data = tmp_path / "data"
    shutil.copytree(published, data)
    settings = tiny_settings(data)
    before = {root: _digest(data / root) for root in ("landing", "lake/recommendations")}
    with monkeypatch.context() as m:
        real_write_table, real_writer = pq.write_table, pq.ParquetWriter

        def write_table(table, path, *args, **kwargs):
            if where in str(path):  # some bytes reach the disk, then it is full
                Path(path).write_bytes(b"PAR1" + b"\0" * 100)
                raise _full(path)
            return real_write_table(table, path, *args, **kwargs)

        class Writer(real_writer):
            def __init__(self, path, *args, **kwargs):
                super().__init__(path, *args, **kwargs)
                self.target = str(path)

            def write_batch(self, batch, *args, **kwargs):
                if where in self.target:
                    raise _full(self.target)
                return super().write_batch(batch, *args, **kwargs)

        m.setattr(pq, "write_table", write_table)
        m.setattr(pq, "ParquetWriter", Writer)
        with pytest.raises(OSError) as failed:
            nightly(run_date=RUN_DATE, settings=settings)
    assert failed.value.errno == errno.ENOSPC and where in failed.value.filename
    after = {root: _digest(data / root) for root in ("landing", "lake/recommendations")}
    assert after == before  # readers still see yesterday's complete state
    assert not [p for p in data.rglob("*.tmp*")]
    nightly(run_date=RUN_DATE, settings=settings)
    assert snapshot(data) == expected
    assert leftovers(data) == []


def test_disk_full_while_landing_fails_cleanly(clean, tmp_path, monkeypatch):
    _rerun_fails_then_recovers(clean, tmp_path, monkeypatch, "landing")


def test_disk_full_while_scoring_fails_cleanly(clean, tmp_path, monkeypatch):
    _rerun_fails_then_recovers(clean, tmp_path, monkeypatch, "recommendations-")
