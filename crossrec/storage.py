"""Writing state so readers never see half of it: hive partition paths, atomic files and
folder swaps (write beside, then rename on the same filesystem)."""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def partition_dir(root: Path, key: str, value: date) -> Path:
    """``root/key=YYYY-MM-DD``; the value is a real date, never free text."""
    if not isinstance(value, date):
        raise TypeError(f"partition value must be a date, got {value!r}")
    return root / f"{key}={value.isoformat()}"


def write_parquet_atomic(table: pa.Table, path: Path) -> Path:
    """Write next to the destination then rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)
    return path


def write_batches_atomic(reader: pa.RecordBatchReader, path: Path,
                         row_group_size: int = 256_000) -> Path:
    """Stream record batches into one Parquet file (bounded memory), then rename into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with pq.ParquetWriter(tmp, reader.schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_batch(batch, row_group_size=row_group_size)
    os.replace(tmp, path)
    return path


def swap_into_place(staging: Path, final: Path) -> Path:
    """Replace the folder ``final`` with ``staging`` by renames on one filesystem."""
    final.parent.mkdir(parents=True, exist_ok=True)
    trash = None
    if final.exists():
        trash = staging.parent / f"old-{uuid.uuid4().hex}"
        os.replace(final, trash)
    os.replace(staging, final)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)
    return final


def write_text_atomic(text: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path
