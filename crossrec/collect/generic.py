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

from crossrec.collect import fastcsv
from crossrec.collect.fields import FieldError, clean_id, epoch_us, float32, midnight_us, text_id
from crossrec.collect.rows import Batcher, Limits, OddTimes, RowLog
from crossrec.collect.sources import DOMAIN_PATTERN, CsvSource, JsonlSource, ParquetSource
from crossrec.collect.textlines import LIMITS, decoded_lines, expect_text, sniff
from crossrec.errors import InputDataError
from crossrec.schemas import STAGED, item_key

_DOMAIN = re.compile(DOMAIN_PATTERN)
GenericSource = CsvSource | JsonlSource | ParquetSource
Rows = Iterator[tuple | None]  # a reader's rows; None stands for one quarantined or filtered
_PARQUET_CHUNK = 65_536


class RowParser:
    """Turns one record (looked up by column name) into a good row or a quarantine entry."""

    def __init__(self, cfg: GenericSource, file: str, ingest_date: date, log: RowLog,
                 limits: Limits = LIMITS):
        self.cfg, self.file, self.log = cfg, file, log
        m = cfg.columns
        self.user_col, self.item_col = m.user_id, m.item_id
        self.min_rating = cfg.min_rating
        self.domain_col, self.rating_col, self.ts_col = m.domain, m.rating, m.event_ts
        self.default_ts = midnight_us(ingest_date)
        self.max_id = limits.max_id_chars
        self.odd_times = OddTimes(file, log, self.default_ts)
        self._domains: set[str] = set()  # domain values already checked against the pattern

    def required_columns(self) -> list[str]:
        m = self.cfg.columns
        return [c for c in (m.user_id, m.item_id, m.domain, m.rating, m.event_ts) if c]

    def parse(self, line: int, get: Callable[[str], object],
              raw: Callable[[], str]) -> tuple | None:
        """The row as a tuple in ``Batcher.fields`` order, or None after quarantining or
        filtering it. ``get`` raises KeyError for a field the record lacks."""
        column = None
        max_id = self.max_id
        try:
            column = self.user_col
            user = get(column)
            # fast path for the common case (clean printable ASCII); anything else goes through
            # clean_id, which also rejects a lone surrogate (a JSON \u escape) Arrow can't
            # store, control characters and line breaks, and ids over the length limit
            if type(user) is not str or not ((user := user.strip()) and user.isascii()
                                             and user.isprintable() and len(user) <= max_id):
                user = clean_id(user, column, max_id)
            column = self.item_col
            item = get(column)
            if type(item) is not str or not ((item := item.strip()) and item.isascii()
                                             and item.isprintable() and len(item) <= max_id):
                item = clean_id(item, column, max_id)
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
                rating = None if value is None or value == "" else float32(value, column)
            ts = self.default_ts
            if self.ts_col is not None:
                column = self.ts_col
                ts = epoch_us(get(column), self.cfg.ts_unit, column)
                if not 0 < ts < self.odd_times.high:
                    self.odd_times.note(line, ts)
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
        domain = text_id(value, "domain")  # the pattern refuses control characters
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


class _Overrun(Exception):
    """A CSV record that may not take in the next physical line."""


class _RecordLines:
    """Feeds decoded lines to ``csv.reader`` and remembers which ones the current record took,
    so a record that turns out broken can give back all but its first line, to be read again
    as records of their own (``give_back``). A record may not take in more than
    ``max_record_lines`` lines or ``max_line_bytes`` bytes, nor run across a line the line
    reader quarantined; a blank line between records is skipped, one inside a record kept."""

    def __init__(self, lines: Iterator[tuple[int, str]], limits: Limits):
        self._lines = lines
        self._back: list[tuple[int, str]] = []  # a stack: the last one is read next
        self.taken: list[tuple[int, str]] = []
        self._size = 0
        self._max_lines, self._max_bytes = limits.max_record_lines, limits.max_line_bytes

    def start(self) -> None:
        self.taken = []
        self._size = 0

    def give_back(self, lines: list[tuple[int, str]]) -> None:
        self._back.extend(reversed(lines))

    def pending(self) -> bool:
        """Whether lines given back are still to be read."""
        return bool(self._back)

    def __iter__(self) -> _RecordLines:
        return self

    def __next__(self) -> str:
        while True:
            item = self._back.pop() if self._back else next(self._lines)
            taken = self.taken
            if not taken:
                if not item[1] or item[1].isspace():
                    continue  # a blank line between records: not a row
                taken.append(item)
                return item[1] + "\n"
            problem = None
            if len(taken) >= self._max_lines:
                problem = f"does not close within {self._max_lines} lines ([collect] " \
                          "max_record_lines)"
            elif item[0] != taken[-1][0] + 1:
                problem = f"runs into line {taken[-1][0] + 1}, which was quarantined"
            elif self._size + len(item[1]) > self._max_bytes:
                problem = f"grows past {self._max_bytes:,} bytes ([collect] max_line_bytes)"
            if problem is not None:
                self._back.append(item)
                raise _Overrun(problem)
            self._size += len(item[1])
            taken.append(item)
            return item[1] + "\n"


_END = object()  # the CSV records are all read


def _csv_rows(cfg: CsvSource, path: Path, ingest_date: date, log: RowLog,
              limits: Limits = LIMITS, fast: bool = True) -> Rows:
    """CSV with a header row. A quoted field may span lines (see ``_RecordLines``), but only
    in a column the mapping does not name: a record whose quote runs over lines and then
    fails (a csv error, end of file, a wrong field count, a line break in a mapped column, a
    limit) is an ``unclosed quote`` at its first line, and the lines after that are read again
    as rows of their own. So every physical line is landed, quarantined with its own number,
    filtered or blank, and no id ever holds a line break.

    With ``fast`` (UTF-8, an ASCII delimiter) runs of plain lines are parsed and checked
    column-wise (``fastcsv``), yielding Arrow batches; every other line goes through the
    loop below, which alone decides what a doubtful line becomes. ``fast=False`` is the
    reference the fast path is tested against (tests/collect/test_fastcsv.py)."""
    file = str(path)
    expect_text(path, "CSV")
    parser = RowParser(cfg, file, ingest_date, log, limits)
    blocks = (fastcsv.Lines(path, cfg.encoding, log, limits, cfg.delimiter)
              if fast and fastcsv.eligible(cfg.encoding, cfg.delimiter) else None)
    lines = _RecordLines(blocks if blocks is not None else
                         decoded_lines(path, cfg.encoding, log, limits, keep_blank=True), limits)
    reader = csv.reader(lines, delimiter=cfg.delimiter, strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        log.warn(file, "no header row")
        return
    except (csv.Error, _Overrun) as exc:
        raise InputDataError(f"{path}: header row (line {lines.taken[0][0]}) is not valid CSV: "
                             f"{exc}") from None
    if len(lines.taken) > 1:
        raise InputDataError(f"{path}: header row (line {lines.taken[0][0]}) opens a quote "
                             "that does not close on that line")
    _missing_columns(parser, header, path)
    index = {name: i for i, name in enumerate(header)}
    width = len(header)
    mapped = [(index[c], c) for c in parser.required_columns()]

    def unclosed(problem: str) -> None:
        (first, text), rest = lines.taken[0], lines.taken[1:]
        log.bad(file, first, None, "unclosed quote",
                f"a quoted field opened on line {first} {problem}; the lines after it are read "
                "as rows of their own", text)
        lines.give_back(rest)

    def one() -> tuple | None | object:
        """The next record's row (None: quarantined or filtered), or ``_END``."""
        lines.start()
        try:
            record = next(reader)
        except StopIteration:
            return _END
        except _Overrun as exc:
            unclosed(str(exc))
            return None
        except csv.Error as exc:
            if len(lines.taken) > 1 or "unexpected end of data" in str(exc):
                unclosed(f"is not closed properly ({exc})" if len(lines.taken) > 1 else
                         "is still open at the end of the file")
            else:
                line, text = lines.taken[0]
                log.bad(file, line, None, "invalid csv", str(exc), text)
            return None
        taken = lines.taken
        line = taken[0][0]
        if len(taken) > 1:
            if len(record) != width:
                unclosed(f"runs to line {taken[-1][0]} and gives {len(record)} fields, "
                         f"expected {width}")
                return None
            broken = next((c for i, c in mapped if "\n" in record[i]), None)
            if broken is not None:
                unclosed(f"runs to line {taken[-1][0]} and puts a line break in {broken!r}")
                return None
            raw = "\n".join(t for _, t in taken)
        else:
            raw = taken[0][1]
            if len(record) != width:
                log.bad(file, line, None, "wrong field count",
                        f"expected {width} fields, got {len(record)}", raw)
                return None
        return parser.parse(line, lambda c, r=record: r[index[c]], lambda r=raw: r)

    fast_run = None
    if blocks is not None:
        blocks.width = width
        fast_run = fastcsv.FastRun(parser, blocks, index, cfg.delimiter, STAGED, cfg.kind)
    while True:
        # a run starts only between records, once every line given back has been read
        if fast_run is not None and not lines.pending() and (run := blocks.take_run()):
            yield from fastcsv.run_rows(fast_run, *run, lines, one, _END)
            continue
        row = one()
        if row is _END:
            break
        yield row  # type: ignore[misc]
    parser.odd_times.finish()


def _jsonl_rows(cfg: JsonlSource, path: Path, ingest_date: date, log: RowLog,
                limits: Limits = LIMITS) -> Rows:
    """One JSON object per line; a field the mapping names but a line lacks is quarantined."""
    file = str(path)
    expect_text(path, "JSON lines")
    parser = RowParser(cfg, file, ingest_date, log, limits)
    for line, text in decoded_lines(path, cfg.encoding, log, limits):
        try:
            record = json.loads(text)
        except (ValueError, RecursionError) as exc:  # deep nesting exhausts the decoder's stack
            log.bad(file, line, None, "invalid json", str(exc), text)
            continue
        if not isinstance(record, dict):
            log.bad(file, line, None, "not an object", f"a JSON {type(record).__name__}", text)
            continue
        yield parser.parse(line, record.__getitem__, lambda t=text: t)
    parser.odd_times.finish()


def _parquet_rows(cfg: ParquetSource, path: Path, ingest_date: date, log: RowLog,
                  limits: Limits = LIMITS) -> Rows:
    """Parquet, read in chunks; ``line`` is the 1-based row number."""
    file = str(path)
    kind = sniff(path)
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputDataError(f"{path}: not a readable Parquet file ({kind} content): {exc}") \
            from None
    parser = RowParser(cfg, file, ingest_date, log, limits)
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
    parser.odd_times.finish()


_ROWS = {CsvSource: _csv_rows, JsonlSource: _jsonl_rows, ParquetSource: _parquet_rows}


def read(cfg: GenericSource, path: Path, ingest_date: date, log: RowLog,
         rows_per_batch: int, limits: Limits = LIMITS,
         fast_csv: bool = True) -> Iterator[pa.RecordBatch]:
    """Batches (schema ``STAGED``) of the good rows of a CSV, JSON-lines or Parquet file.
    ``fast_csv=False`` reads a CSV line by line only (the reference for the fast path)."""
    batcher = Batcher(str(path), cfg.kind, log, rows_per_batch)
    if sniff(path) == "empty":
        log.warn(str(path), "empty file")
        return iter(())
    if isinstance(cfg, CsvSource):
        return batcher.batches(_csv_rows(cfg, path, ingest_date, log, limits, fast_csv))
    return batcher.batches(_ROWS[type(cfg)](cfg, path, ingest_date, log, limits))
