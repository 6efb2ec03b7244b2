"""DisenCDR-style pair folders: ``<domain>_<other>/{train,test_original}.txt``, ``user item 1``.

Users are shared within a pair; item ids are local to a folder, so they are prefixed with the
domain. The files carry no timestamps: every row gets the ingest date's midnight (UTC).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pyarrow as pa

from crossrec.collect.fields import midnight_us
from crossrec.collect.rows import Batcher, RowLog
from crossrec.collect.textlines import decoded_lines, expect_text
from crossrec.errors import InputDataError
from crossrec.schemas import item_key

FILES = ("train.txt", "test_original.txt")


def pair_files(root: Path, source: str, target: str) -> dict[str, list[Path]]:
    """The files of both domains of a local pair folder, by domain."""
    out = {}
    for domain, other in ((source, target), (target, source)):
        folder = root / f"{domain}_{other}"
        if not folder.is_dir():
            raise InputDataError(f"data folder not found: {folder} (from sources.path = {root})")
        present = [folder / f for f in FILES if (folder / f).is_file()]
        if not present:
            raise InputDataError(f"{folder}: none of {', '.join(FILES)} found")
        out[domain] = present
    return out


def read_file(path: Path, domain: str, ingest_date: date, log: RowLog,
              rows_per_batch: int) -> Iterator[pa.RecordBatch]:
    """One domain file; a line without a user and an item is quarantined."""
    batcher = Batcher(str(path), "disencdr", log, rows_per_batch)
    return batcher.batches(_rows(path, domain, ingest_date, log))


def _rows(path: Path, domain: str, ingest_date: date, log: RowLog) -> Iterator[tuple]:
    file = str(path)
    if expect_text(path, "a DisenCDR text file") == "empty":
        log.warn(file, "empty file")
        return
    ts = midnight_us(ingest_date)
    for line, text in decoded_lines(path, "utf-8", log):
        parts = text.split("\t")
        user = parts[0].strip()
        item = parts[1].strip() if len(parts) > 1 else ""
        if len(parts) < 2:
            log.bad(file, line, "item", "wrong field count",
                    f"expected >= 2 tab-separated fields, got {len(parts)}", text)
        elif not user:
            log.bad(file, line, "user", "empty value", "empty user id", text)
        elif not item:
            log.bad(file, line, "item", "empty value", "empty item id", text)
        else:
            yield (user, item_key(domain, item), domain, ts, None, line)


def read_pair(files: dict[str, list[Path]], ingest_date: date, log: RowLog,
              rows_per_batch: int) -> Iterator[pa.RecordBatch]:
    """Interactions of both domains of a pair (``files`` from ``pair_files`` or a download)."""
    for domain, paths in files.items():
        for path in paths:
            yield from read_file(path, domain, ingest_date, log, rows_per_batch)
