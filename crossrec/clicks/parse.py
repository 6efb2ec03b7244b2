"""Reading click-log files (JSONL or Parquet) into clean events and quarantined rows.

Every record goes through the same field checks whatever the format, so a JSONL line and a
Parquet row with the same content end the same way. A bad record is kept as a quarantine row
naming the file, the line (1-based; the row number for Parquet), the column and a reason; a
column the contract does not know is dropped from the events and counted per file, never
silently.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow.parquet as pq

from crossrec.collect.fields import FieldError, epoch_us, text_id
from crossrec.collect.textlines import sniff
from crossrec.errors import InputDataError
from crossrec.schemas import CLICKS, EVENT_TYPES

FIELDS = tuple(CLICKS.names)
RAW_LIMIT = 500
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".json", ".json.gz")
SUFFIXES = (*JSONL_SUFFIXES, ".parquet")
"""File names the parser reads (case-insensitive; gzip is recognised by content). Anything
else in a drop folder is listed as skipped, with why, in the ingestion summary."""


@dataclass
class BadRecord:
    line: int
    column: str | None
    reason: str
    detail: str
    raw: str | None


@dataclass
class ParsedFile:
    """One file's events (column lists in CLICKS order, plus ``line``) and bad records."""

    path: Path
    columns: dict[str, list] = field(default_factory=lambda: {k: [] for k in (*FIELDS, "line")})
    bad: list[BadRecord] = field(default_factory=list)
    extra_columns: dict[str, int] = field(default_factory=dict)
    """Columns not in the contract: name -> records that carried it (dropped, reported)."""
    read: int = 0

    @property
    def kept(self) -> int:
        return len(self.columns["event_id"])


def _rank(value: Any) -> int:
    if isinstance(value, bool) or value is None:
        raise FieldError("bad rank", f"rank must be a positive integer, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    # isdecimal, not isdigit: int() rejects digits such as '³' that isdigit accepts
    if isinstance(value, str) and value.strip().isdecimal():
        value = int(value)
    if not isinstance(value, int) or value < 1 or value > 32767:
        raise FieldError("bad rank", f"rank must be a positive integer, got {value!r}")
    return value


def _day(value: Any) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise FieldError("bad date", f"rec_run_date is not YYYY-MM-DD: {value!r}") from None


def _event_type(value: Any) -> str:
    if value not in EVENT_TYPES:
        raise FieldError("unknown event type",
                         f"event_type must be one of {', '.join(EVENT_TYPES)}, got {value!r}")
    return value


CHECKS = {
    "event_id": lambda v: text_id(v, "event_id"),
    "event_ts": lambda v: epoch_us(v, "iso" if isinstance(v, str) else "auto", "event_ts"),
    "user_id": lambda v: text_id(v, "user_id"),
    "item_id": lambda v: text_id(v, "item_id"),
    "event_type": _event_type,
    "rec_run_date": _day,
    "rank": _rank,
    "model_version": lambda v: text_id(v, "model_version"),
}


def check_record(record: Any) -> tuple[dict[str, Any] | None, tuple[str | None, str, str] | None]:
    """(clean values, None) or (None, (column, reason, detail))."""
    if not isinstance(record, dict):
        return None, (None, "not an object", f"expected a JSON object, got {type(record).__name__}")
    out = {}
    for name, check in CHECKS.items():
        if name not in record or record[name] is None:
            return None, (name, "missing field", f"{name} is missing")
        try:
            out[name] = check(record[name])
        except FieldError as exc:
            return None, (name, exc.reason, str(exc))
    return out, None


def _add(parsed: ParsedFile, line: int, record: Any, raw: str | None) -> None:
    parsed.read += 1
    values, problem = check_record(record)
    if problem is not None:
        column, reason, detail = problem
        if raw is None:
            raw = json.dumps(record, default=str)
        parsed.bad.append(BadRecord(line, column, reason, detail, raw[:RAW_LIMIT]))
        return
    for name in set(record) - set(FIELDS):
        parsed.extra_columns[name] = parsed.extra_columns.get(name, 0) + 1
    cols = parsed.columns
    for name in FIELDS:
        cols[name].append(values[name])
    cols["line"].append(line)


MAX_LINE_BYTES = 1 << 20
"""A line longer than this (1 MiB; an event is a few hundred bytes) is quarantined as
``line too long`` and skipped without being held in memory."""
MAX_DECOMPRESSED_BYTES = 16 << 30
"""A gzip that expands past this (16 GiB) is refused whole: :class:`InputDataError`."""
MAX_RATIO = 200
"""...and so is one expanding more than this many times its compressed size (a gzip bomb);
JSON lines compress 5 to 20 times. Judged once ``RATIO_AFTER`` bytes came out."""
RATIO_AFTER = 64 << 20


class _Counting:
    """A binary file that counts what was read from it (the compressed bytes of a gzip)."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh, self.read_bytes = fh, 0

    def read(self, size: int = -1) -> bytes:
        out = self.fh.read(size)
        self.read_bytes += len(out)
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fh, name)


def _lines(path: Path, max_line: int, max_bytes: int, max_ratio: float
           ) -> Iterator[tuple[bytes, bool]]:
    """``(line, too_long)`` for each physical line, newline included; a line over
    ``max_line`` bytes comes back as its first ``RAW_LIMIT`` bytes with ``too_long``, the
    rest read and dropped in bounded pieces. Raises :class:`InputDataError` when a gzip
    expands past ``max_bytes`` or ``max_ratio`` times its compressed size."""
    with path.open("rb") as raw:
        gz = sniff(path) == "gzip"
        counted = _Counting(raw)
        fh: BinaryIO = gzip.GzipFile(fileobj=counted) if gz else raw  # type: ignore[assignment]
        out = 0

        def check(n: int) -> None:
            nonlocal out
            out += n
            if not gz:
                return
            if out > max_bytes:
                raise InputDataError(f"{path}: decompresses to more than {max_bytes:,} bytes; "
                                     "refusing it (a gzip bomb, or split the log)")
            if out > RATIO_AFTER and out > max_ratio * max(counted.read_bytes, 1):
                raise InputDataError(
                    f"{path}: expands more than {max_ratio:g} times its compressed size "
                    f"({counted.read_bytes:,} bytes to over {out:,}); refusing a gzip bomb")

        with fh:
            while line := fh.readline(max_line + 1):
                check(len(line))
                if len(line) <= max_line or line.endswith(b"\n"):
                    yield line, False
                    continue
                head = line[:RAW_LIMIT]
                while (rest := fh.readline(max_line + 1)) and not rest.endswith(b"\n"):
                    check(len(rest))
                check(len(rest))
                yield head, True


def parse_jsonl(path: Path, max_line: int = MAX_LINE_BYTES,
                max_bytes: int = MAX_DECOMPRESSED_BYTES, max_ratio: float = MAX_RATIO
                ) -> ParsedFile:
    """One event per line; blank lines are skipped; a line that is not JSON (a truncated
    write, a cut file) is quarantined as ``invalid json``, one that is not UTF-8 as ``bad
    encoding``, one over ``max_line`` bytes as ``line too long``."""
    parsed = ParsedFile(path)
    number = 0
    try:
        for number, (raw_bytes, too_long) in enumerate(
                _lines(path, max_line, max_bytes, max_ratio), start=1):
            if too_long:
                parsed.read += 1
                parsed.bad.append(BadRecord(number, None, "line too long",
                                            f"line is over {max_line:,} bytes",
                                            raw_bytes.decode("utf-8", errors="replace")))
                continue
            try:
                text = raw_bytes.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                parsed.read += 1
                parsed.bad.append(BadRecord(number, None, "bad encoding",
                                            f"not valid UTF-8: {exc}",
                                            raw_bytes.decode("utf-8", errors="replace")
                                            .rstrip("\r\n")[:RAW_LIMIT]))
                continue
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            # ValueError also covers an integer over Python's digit limit; deep nesting
            # exhausts the decoder's stack
            except (ValueError, RecursionError) as exc:
                parsed.read += 1
                parsed.bad.append(BadRecord(number, None, "invalid json", str(exc),
                                            text[:RAW_LIMIT]))
                continue
            _add(parsed, number, record, text)
    except (EOFError, OSError, zlib.error) as exc:  # a cut .gz: keep what came before
        parsed.read += 1  # the cut is one quarantined entry, so read = kept + quarantined
        parsed.bad.append(BadRecord(number + 1, None, "truncated file", str(exc), None))
    return parsed


def parse_parquet(path: Path) -> ParsedFile:
    """Row by row through the same checks; an unreadable file raises (nothing partial)."""
    parsed = ParsedFile(path)
    table = pq.read_table(path)
    for number, record in enumerate(table.to_pylist(), start=1):
        _add(parsed, number, record, None)
    return parsed


def parse_file(path: Path) -> ParsedFile:
    name = path.name.lower()
    if name.endswith(".parquet"):
        return parse_parquet(path)
    if name.endswith(JSONL_SUFFIXES):
        return parse_jsonl(path)
    raise InputDataError(f"{path}: not a click log (expected a name ending in "
                         f"{', '.join(SUFFIXES)})")
