"""What every reader shares: a row batcher, the quarantine log and per-file counts.

A reader is a generator of Arrow record batches (schema ``STAGED`` or ``ITEMS_STAGED``). Good
rows go into batches; a row it cannot use goes to the quarantine (``RowLog.bad``) or, when it is
valid but out of scope (rated below ``min_rating``), is counted as filtered. So for every file:
read = yielded + quarantined + filtered, and nothing disappears without a count.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from crossrec.schemas import ITEMS_STAGED, QUARANTINE, STAGED

RAW_LIMIT = 500  # characters of a bad row kept in the quarantine
_DAY_US = 86_400 * 1_000_000


@dataclass(frozen=True)
class Limits:
    """What a reader refuses to hold (``[collect]`` keys of the same names)."""

    max_line_bytes: int = 8 * 2**20
    """A longer physical line (or CSV record) is quarantined as ``line too long`` and skipped
    without being read into memory whole."""
    max_record_lines: int = 20
    """Most physical lines one CSV record may span (through quoted line breaks)."""
    max_id_chars: int = 2048
    """A longer user, item or domain id is quarantined as ``id too long``."""
    max_gzip_ratio: float = 100.0
    """A gzip input that expands more than this many times (once past 16 MiB) fails."""

    @classmethod
    def of(cls, collect: object) -> Limits:
        """From ``settings.collect`` (any object with these attributes)."""
        return cls(**{k: getattr(collect, k) for k in cls.__dataclass_fields__})


@dataclass
class FileTally:
    """Counts for one input file."""

    yielded: int = 0
    quarantined: Counter = field(default_factory=Counter)
    filtered: Counter = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    domains: Counter = field(default_factory=Counter)
    """Rows of each domain the file held (landed or filtered as another domain)."""
    example: dict | None = None
    """The first quarantined row's line, column and problem: what an error message shows."""

    @property
    def read(self) -> int:
        return self.yielded + sum(self.quarantined.values()) + sum(self.filtered.values())

    def bad_ratio(self) -> float:
        return sum(self.quarantined.values()) / self.read if self.read else 0.0


class QuarantineLog:
    """Quarantined rows, spilled to one Parquet file in batches so memory stays bounded."""

    def __init__(self, path: Path, batch_rows: int = 50_000):
        self.path = path
        self._batch_rows = batch_rows
        self._cols: dict[str, list] = {k: [] for k in QUARANTINE.names}
        self._writer: pq.ParquetWriter | None = None
        self.rows = 0

    def add(self, file: str, line: int, column: str | None, reason: str, detail: str | None,
            raw: str | None) -> None:
        c = self._cols
        c["file"].append(file)
        c["line"].append(line)
        c["column"].append(column)
        c["reason"].append(reason)
        c["detail"].append(None if detail is None else detail[:RAW_LIMIT])
        c["raw"].append(None if raw is None else raw[:RAW_LIMIT])
        self.rows += 1
        if len(c["file"]) >= self._batch_rows:
            self._spill()

    def add_table(self, table: pa.Table) -> None:
        self._spill()
        if table.num_rows:
            self._write(table.select(QUARANTINE.names).cast(QUARANTINE))
            self.rows += table.num_rows

    def _write(self, table: pa.Table) -> None:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self.path, QUARANTINE, compression="zstd")
        self._writer.write_table(table)

    def _spill(self) -> None:
        if self._cols["file"]:
            self._write(pa.table(self._cols, schema=QUARANTINE))
            self._cols = {k: [] for k in QUARANTINE.names}

    def close(self) -> Path | None:
        """Flush; returns the file, or None when nothing was quarantined."""
        self._spill()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        return self.path if self.rows else None


class RowLog:
    """Where readers report rows they could not use; keeps the per-file tallies."""

    def __init__(self, quarantine: QuarantineLog):
        self.quarantine = quarantine
        self.files: dict[str, FileTally] = {}

    def tally(self, file: str) -> FileTally:
        if file not in self.files:
            self.files[file] = FileTally()
        return self.files[file]

    def bad(self, file: str, line: int, column: str | None, reason: str,
            detail: str | None = None, raw: str | None = None) -> None:
        """Quarantine one row: ``reason`` is a short category, ``detail`` the specifics."""
        tally = self.tally(file)
        tally.quarantined[reason] += 1
        if tally.example is None:
            tally.example = {"line": line, "column": column, "reason": reason, "detail": detail}
        self.quarantine.add(file, line, column, reason, detail, raw)

    def filtered(self, file: str, reason: str, count: int = 1) -> None:
        """A valid row deliberately left out (e.g. rated below ``min_rating``)."""
        self.tally(file).filtered[reason] += count

    def warn(self, file: str, message: str) -> None:
        self.tally(file).warnings.append(message)


class OddTimes:
    """Counts landed event times that are implausible but possible: at or before the epoch
    (1970-01-01T00:00Z, also a common "unknown" placeholder; 1900 and earlier) or later than
    the day after the ingest date (year 9999). They land; the file gets one warning."""

    def __init__(self, file: str, log: RowLog, midnight_us: int):
        self.file, self.log = file, log
        self.high = midnight_us + 2 * _DAY_US  # the end of the day after the ingest date
        self.count = 0
        self.first: tuple[int, int] | None = None

    def note(self, line: int, us: int) -> None:
        """Call for a time outside ``(0, self.high)`` (the caller's cheap check)."""
        self.count += 1
        if self.first is None:
            self.first = (line, us)

    def finish(self) -> None:
        if self.count:
            line, us = self.first  # type: ignore[misc]
            when = pa.scalar(us, pa.timestamp("us", tz="UTC")).as_py().isoformat()
            self.log.warn(self.file, f"{self.count} row(s) have an event time at or before "
                          "1970-01-01 or after the day after the ingest date (first at line "
                          f"{line}: {when}); they landed: check the timestamps and ts_unit")


class Batcher:
    """Collects one file's parsed rows column-wise and hands out Arrow batches."""

    def __init__(self, file: str, source: str, log: RowLog, rows_per_batch: int = 100_000,
                 items: bool = False):
        self.file, self.source, self.log = file, source, log
        self.schema = ITEMS_STAGED if items else STAGED
        self.fields = tuple(n for n in self.schema.names if n not in ("file", "source"))
        """Order of the values in a row tuple."""
        self._rows_per_batch = rows_per_batch
        self._rows: list[tuple] = []
        self._pieces: list[pa.RecordBatch] = []  # rows converted but not yet handed out
        self._piece_rows = 0
        log.tally(file)  # an empty file still shows up in the summary

    def add(self, **row) -> pa.RecordBatch | None:
        """Add one good row (every field of the schema but ``file``/``source``); returns a
        batch when one is full."""
        return self.add_row(tuple(row[name] for name in self.fields))

    def add_row(self, row: tuple) -> pa.RecordBatch | None:
        """``add`` for a tuple in schema order (``fields``): the readers' fast path."""
        self._rows.append(row)
        if len(self._rows) + self._piece_rows >= self._rows_per_batch:
            return self.flush()
        return None

    def add_batch(self, batch: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
        """Add good rows already in an Arrow batch (schema ``self.schema``); yields the
        batches that fill, cut at the same rows as adding them one by one would."""
        if self._rows:
            self._pieces.append(self._tuples_batch())
        self._pieces.append(batch)
        self._piece_rows += batch.num_rows
        while self._piece_rows >= self._rows_per_batch:
            yield self._emit(self._rows_per_batch)

    def batches(self, rows: Iterable[tuple | pa.RecordBatch | None]) -> Iterator[pa.RecordBatch]:
        """Batch a reader's rows (tuples in ``fields`` order, or Arrow batches of good rows;
        None for a row it quarantined or filtered), then flush."""
        for row in rows:
            if row is None:
                continue
            if type(row) is tuple:
                if (batch := self.add_row(row)) is not None:
                    yield batch
            else:
                yield from self.add_batch(row)  # type: ignore[arg-type]
        if (batch := self.flush()) is not None:
            yield batch

    def flush(self) -> pa.RecordBatch | None:
        """Everything added and not yet handed out, at most ``rows_per_batch`` rows."""
        if self._rows:
            self._pieces.append(self._tuples_batch())
        if not self._piece_rows:
            return None
        return self._emit(min(self._piece_rows, self._rows_per_batch))

    def _tuples_batch(self) -> pa.RecordBatch:
        n = len(self._rows)
        cols = dict(zip(self.fields, map(list, zip(*self._rows, strict=True)), strict=True))
        cols["file"] = [self.file] * n
        cols["source"] = [self.source] * n
        if "event_ts" in cols:
            cols["event_ts"] = pa.array(cols["event_ts"], pa.int64()).cast(
                pa.timestamp("us", tz="UTC"))
        batch = pa.RecordBatch.from_pydict(cols, schema=self.schema)
        self._rows = []
        self._piece_rows += n
        return batch

    def _emit(self, n: int) -> pa.RecordBatch:
        """The first ``n`` rows of the pieces, as one batch."""
        if len(self._pieces) == 1 and self._pieces[0].num_rows == n:
            out = self._pieces.pop()
        else:
            table = pa.Table.from_batches(self._pieces, schema=self.schema)
            out = table.slice(0, n).combine_chunks().to_batches()[0] if n else None
            rest = table.slice(n)
            self._pieces = rest.combine_chunks().to_batches() if rest.num_rows else []
        self._piece_rows -= n
        self.log.tally(self.file).yielded += n
        return out  # type: ignore[return-value]
