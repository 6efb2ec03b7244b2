"""Writing state so readers never see half of it: hive partition paths, atomic files and
folder swaps (write beside, then rename on the same filesystem)."""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def partition_dir(root: Path, key: str, value: date) -> Path:
    """``root/key=YYYY-MM-DD``; the value is a real date, never free text."""
    if not isinstance(value, date):
        raise TypeError(f"partition value must be a date, got {value!r}")
    return root / f"{key}={value.isoformat()}"


@contextmanager
def _temp_beside(path: Path) -> Iterator[Path]:
    """A temp name next to ``path`` (same filesystem, so the rename is atomic), removed if
    writing it fails (a full disk leaves no half-written file behind)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_parquet_atomic(table: pa.Table, path: Path) -> Path:
    """Write next to the destination then rename, so readers never see half a file."""
    with _temp_beside(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    return path


def write_batches_atomic(reader: pa.RecordBatchReader, path: Path,
                         row_group_size: int = 256_000) -> Path:
    """Stream record batches into one Parquet file (bounded memory), then rename into place."""
    with _temp_beside(path) as tmp:
        with pq.ParquetWriter(tmp, reader.schema, compression="zstd") as writer:
            for batch in reader:
                writer.write_batch(batch, row_group_size=row_group_size)
        os.replace(tmp, path)
    return path


_RENAME_EXCHANGE = 2  # linux/fs.h


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two existing paths (Linux ``renameat2(RENAME_EXCHANGE)``); False
    where the platform or filesystem cannot."""
    if sys.platform != "linux":
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):  # glibc < 2.28, or not glibc
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd = -100
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _previous(final: Path, staging_root: Path) -> Path:
    """Where the fallback swap parks the old folder: a fixed name per final path, so
    :func:`recover_swap` can find it after a crash."""
    key = hashlib.sha256(str(final.resolve()).encode()).hexdigest()[:16]
    return staging_root / f"previous-{key}"


def recover_swap(final: Path, staging_root: Path) -> bool:
    """Undo a fallback swap that crashed between its two renames: put the parked previous
    folder back. Returns True when something was restored."""
    parked = _previous(final, staging_root)
    if parked.exists() and not final.exists():
        os.replace(parked, final)
        return True
    return False


def swap_into_place(staging: Path, final: Path) -> Path:
    """Replace the folder ``final`` with ``staging`` (same filesystem) so that a crash at any
    point leaves either the old or the new folder at ``final``, never neither.

    Linux: one atomic exchange, then the old folder (now at ``staging``) is deleted. Elsewhere:
    the old folder is parked under a fixed name first and :func:`recover_swap` restores it
    if the process dies before the second rename (the next swap of ``final`` calls it).
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists() and _exchange(staging, final):
        shutil.rmtree(staging, ignore_errors=True)
        return final
    recover_swap(final, staging.parent)
    parked = _previous(final, staging.parent)
    if final.exists():
        shutil.rmtree(parked, ignore_errors=True)
        os.replace(final, parked)
    os.replace(staging, final)
    shutil.rmtree(parked, ignore_errors=True)
    return final


def write_text_atomic(text: str, path: Path) -> Path:
    """Small state files (registry, manifests, reports): flushed to disk before the rename,
    so even a power cut leaves the old or the new content, not an empty file."""
    with _temp_beside(path) as tmp:
        with tmp.open("w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    return path
