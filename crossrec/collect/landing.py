"""The landing zone: one hive partition per ingest date, one Parquet file per source."""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from crossrec.schemas import INTERACTIONS, QUARANTINE

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


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


def land(
    data_dir: Path, ingest_date: date, name: str, rows: pa.Table, quarantined: pa.Table
) -> dict[str, int]:
    """Write one source's rows (and its quarantine) for an ingest date; re-running replaces them."""
    if not _NAME.match(name):
        raise ValueError(f"invalid landing file name {name!r}")
    write_parquet_atomic(
        rows.cast(INTERACTIONS), partition_dir(data_dir / "landing", "ingest_date", ingest_date)
        / f"{name}.parquet"
    )
    q_path = partition_dir(data_dir / "quarantine", "ingest_date", ingest_date) / f"{name}.parquet"
    if quarantined.num_rows:
        write_parquet_atomic(quarantined.cast(QUARANTINE), q_path)
    elif q_path.exists():
        q_path.unlink()  # a clean re-run must not keep a stale quarantine
    return {"landed": rows.num_rows, "quarantined": quarantined.num_rows}
