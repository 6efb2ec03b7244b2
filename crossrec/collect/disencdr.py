"""DisenCDR-style pair folders: ``<domain>_<other>/{train,test_original}.txt``, ``user item 1``.

Users are shared within a pair; item ids are local to a folder, so they are prefixed with the
domain. The files carry no timestamps: every row gets the ingest date's midnight (UTC).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa

from crossrec.errors import InputDataError
from crossrec.schemas import INTERACTIONS, QUARANTINE, item_key

FILES = ("train.txt", "test_original.txt")


def _parse(path: Path, domain: str, rows: dict, bad: dict) -> None:
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for line_no, line in enumerate(fh, start=1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 1 and not parts[0].strip():
                continue  # blank line, e.g. trailing newline
            problem = None
            if len(parts) < 2:
                problem = ("item", f"expected >= 2 tab-separated fields, got {len(parts)}")
            elif not parts[0].strip():
                problem = ("user", "empty user id")
            elif not parts[1].strip():
                problem = ("item", "empty item id")
            if problem:
                bad["file"].append(str(path))
                bad["line"].append(line_no)
                bad["column"].append(problem[0])
                bad["reason"].append(problem[1])
                bad["raw"].append(line[:500])
                continue
            rows["user_id"].append(parts[0].strip())
            rows["item_id"].append(item_key(domain, parts[1].strip()))
            rows["domain"].append(domain)


def read_pair(path: Path, source: str, target: str, ingest_date: date) -> tuple[pa.Table, pa.Table]:
    """Interactions of both domains of a pair, plus quarantined lines."""
    rows = {"user_id": [], "item_id": [], "domain": []}
    bad = {k: [] for k in QUARANTINE.names}
    for domain, other in ((source, target), (target, source)):
        folder = path / f"{domain}_{other}"
        if not folder.is_dir():
            raise InputDataError(f"data folder not found: {folder} (from sources.path = {path})")
        present = [folder / f for f in FILES if (folder / f).is_file()]
        if not present:
            raise InputDataError(f"{folder}: none of {', '.join(FILES)} found")
        for file in present:
            _parse(file, domain, rows, bad)
    n = len(rows["user_id"])
    midnight = datetime(ingest_date.year, ingest_date.month, ingest_date.day, tzinfo=UTC)
    table = pa.table(
        {
            **rows,
            "event_ts": pa.array([midnight] * n, type=pa.timestamp("us", tz="UTC")),
            "rating": pa.nulls(n, type=pa.float32()),
            "source": ["disencdr"] * n,
        },
        schema=INTERACTIONS,
    )
    return table, pa.table(bad, schema=QUARANTINE)
