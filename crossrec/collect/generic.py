"""Generic interaction files (CSV, JSON lines, Parquet) with a column mapping from the config.

Every format goes through one row parser, so a value means the same thing whatever file it
came from: ids are trimmed text, the item id is prefixed with the row's domain (ids unique
across domains), ratings below ``min_rating`` are counted as filtered, and a file without
timestamps gets the ingest date's midnight (UTC).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from crossrec.collect.fields import FieldError, epoch_us, midnight_us, number, text_id
from crossrec.collect.rows import Batcher, RowLog
from crossrec.collect.sources import DOMAIN_PATTERN, CsvSource, JsonlSource, ParquetSource
from crossrec.collect.textlines import decoded_lines, expect_text, sniff
from crossrec.errors import InputDataError
from crossrec.schemas import item_key

_DOMAIN = re.compile(DOMAIN_PATTERN)
GenericSource = CsvSource | JsonlSource | ParquetSource
Rows = Iterator[tuple | None]  # a reader's rows; None stands for one quarantined or filtered
_PARQUET_CHUNK = 65_536


class RowParser:
    """Turns one record (looked up by column name) into a good row or a quarantine entry."""

    def __init__(self, cfg: GenericSource, file: str, ingest_date: date, log: RowLog):
        self.cfg, self.file, self.log = cfg, file, log
        m = cfg.columns
        self.user_col, self.item_col = m.user_id, m.item_id
        self.min_rating = cfg.min_rating
        self.domain_col, self.rating_col, self.ts_col = m.domain, m.rating, m.event_ts
        self.default_ts = midnight_us(ingest_date)
        self._domains: set[str] = set()  # domain values already checked against the pattern

    def required_columns(self) -> list[str]:
        m = self.cfg.columns
        return [c for c in (m.user_id, m.item_id, m.domain, m.rating, m.event_ts) if c]

    def parse(self, line: int, get: Callable[[str], object],
              raw: Callable[[], str]) -> tuple | None:
        """The row as a tuple in ``Batcher.fields`` order, or None after quarantining or
        filtering it. ``get`` raises KeyError for a field the record lacks."""
        column = None
        try:
            column = self.user_col
            user = get(column)
            # fast path for the common case (clean ASCII text); anything else goes through
            # text_id, which also rejects a lone surrogate (a JSON \u escape) Arrow can't store
            user = user.strip() if type(user) is str else user
            if not user or type(user) is not str or not user.isascii():
                user = text_id(user, column)
            column = self.item_col
            item = get(column)
            item = item.strip() if type(item) is str else item
            if not item or type(item) is not str or not item.isascii():
                item = text_id(item, column)
            if self.domain_col is None:
                domain = self.cfg.domain
            else:
                column = self.domain_col
                domain = get(column)
                # type first: a JSON list or object is unhashable and can't be looked up in a set
                if type(domain) is not str or domain not in self._domains:
                    domain = self._domain(domain)
            rating = None
            if self.rating_col is not None:
                column = self.rating_col
                value = get(column)
                rating = None if value is None or value == "" else number(value, column)
            ts = self.default_ts
            if self.ts_col is not None:
                column = self.ts_col
                ts = epoch_us(get(column), self.cfg.ts_unit, column)
        except KeyError:
            self.log.bad(self.file, line, column, "missing field", f"no field {column!r}", raw())
            return None
        except FieldError as exc:
            self.log.bad(self.file, line, column, exc.reason, str(exc), raw())
            return None
        if self.min_rating is not None and (rating is None or rating < self.min_rating):
            self.log.filtered(self.file, "below min_rating")
            return None
        return (user, item_key(domain, item), domain, ts, rating, line)

    def _domain(self, value: object) -> str:
        domain = text_id(value, "domain")
        if domain not in self._domains:
            if not _DOMAIN.match(domain):
                raise FieldError("bad domain", f"domain {domain!r} does not match {DOMAIN_PATTERN}")
            self._domains.add(domain)
        return domain


def _missing_columns(parser: RowParser, present: list[str], path: Path) -> None:
    missing = [c for c in parser.required_columns() if c not in present]
    if missing:
        raise InputDataError(
            f"{path}: column(s) {', '.join(map(repr, missing))} named in the source's column "
            f"mapping are not in the file (it has: {', '.join(present) or 'no columns'})")


def _csv_rows(cfg: CsvSource, path: Path, ingest_date: date, log: RowLog) -> Rows:
    """CSV with a header row; quoted fields may span lines."""
    file = str(path)
    expect_text(path, "CSV")
    parser = RowParser(cfg, file, ingest_date, log)
    where = {"line": 0, "text": ""}

    def lines() -> Iterator[str]:
        for line_no, text in decoded_lines(path, cfg.encoding, log):
            where["line"], where["text"] = line_no, text
            yield text + "\n"

    reader = csv.reader(lines(), delimiter=cfg.delimiter, strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        log.warn(file, "no header row")
        return
    except csv.Error as exc:
        raise InputDataError(f"{path}: header row is not valid CSV: {exc}") from None
    _missing_columns(parser, header, path)
    index = {name: i for i, name in enumerate(header)}
    width = len(header)
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            log.bad(file, where["line"], None, "invalid csv", str(exc), where["text"])
            continue
        line = where["line"]
        if len(record) != width:
            log.bad(file, line, None, "wrong field count",
                    f"expected {width} fields, got {len(record)}", where["text"])
            continue
        yield parser.parse(line, lambda c, r=record: r[index[c]], lambda: where["text"])


def _jsonl_rows(cfg: JsonlSource, path: Path, ingest_date: date, log: RowLog) -> Rows:
    """One JSON object per line; a field the mapping names but a line lacks is quarantined."""
    file = str(path)
    expect_text(path, "JSON lines")
    parser = RowParser(cfg, file, ingest_date, log)
    for line, text in decoded_lines(path, cfg.encoding, log):
        try:
            record = json.loads(text)
        except (ValueError, RecursionError) as exc:  # deep nesting exhausts the decoder's stack
            log.bad(file, line, None, "invalid json", str(exc), text)
            continue
        if not isinstance(record, dict):
            log.bad(file, line, None, "not an object", f"a JSON {type(record).__name__}", text)
            continue
        yield parser.parse(line, record.__getitem__, lambda t=text: t)


def _parquet_rows(cfg: ParquetSource, path: Path, ingest_date: date, log: RowLog) -> Rows:
    """Parquet, read in chunks; ``line`` is the 1-based row number."""
    file = str(path)
    kind = sniff(path)
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputDataError(f"{path}: not a readable Parquet file ({kind} content): {exc}") \
            from None
    parser = RowParser(cfg, file, ingest_date, log)
    _missing_columns(parser, pf.schema_arrow.names, path)
    wanted = parser.required_columns()
    offset = 0
    for chunk in pf.iter_batches(batch_size=_PARQUET_CHUNK, columns=wanted):
        cols = chunk.to_pydict()
        for i in range(chunk.num_rows):
            yield parser.parse(offset + i + 1, lambda c, i=i, cols=cols: cols[c][i],
                               lambda i=i, cols=cols: json.dumps(
                                   {c: cols[c][i] for c in wanted}, default=str))
        offset += chunk.num_rows


_ROWS = {CsvSource: _csv_rows, JsonlSource: _jsonl_rows, ParquetSource: _parquet_rows}


def read(cfg: GenericSource, path: Path, ingest_date: date, log: RowLog,
         rows_per_batch: int) -> Iterator[pa.RecordBatch]:
    """Batches (schema ``STAGED``) of the good rows of a CSV, JSON-lines or Parquet file."""
    batcher = Batcher(str(path), cfg.kind, log, rows_per_batch)
    if sniff(path) == "empty":
        log.warn(str(path), "empty file")
        return iter(())
    return batcher.batches(_ROWS[type(cfg)](cfg, path, ingest_date, log))
