"""Fuzz the generic CSV / JSON-lines collectors with files of random good and malformed rows.

Every generated record carries what it must become: a landed row (with its values), a
quarantine entry (line, column, reason), a filtered row, or nothing (a blank line). The reader's
rows, quarantine entries and tally are compared with that record by record, so
read = landed + quarantined + filtered is checked against an independent count of the input,
not only against the tally's own sum (which is how ``FileTally.read`` is defined).

What ``read`` counts: one per non-blank record (a CSV record may span lines inside quotes, in
a column the mapping does not name; it counts under its first line), never the header. A CSV
quote that opens and does not close properly is an ``unclosed quote`` at its own line, and the
lines after it are judged as records of their own. A cut gzip fails the file (InputDataError).

Run with ``-s`` to see how many examples and rows were generated.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossrec.collect.fields import MAX_ID_CHARS
from crossrec.collect.generic import GenericSource, read
from crossrec.collect.rows import QuarantineLog, RowLog
from crossrec.collect.sources import DOMAIN_PATTERN, CsvSource, JsonlSource
from crossrec.errors import InputDataError
from tests.conftest import RUN_DATE

COLS = ("uid", "iid", "dom", "stars", "ts")  # also the order in which the parser checks them
FIXED_DOMAIN = "book"
MIN_RATING = 3.0
CSV_FIELD_LIMIT = csv.field_size_limit()
DOMAIN = re.compile(DOMAIN_PATTERN)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
MIDNIGHT_US = (datetime(RUN_DATE.year, RUN_DATE.month, RUN_DATE.day, tzinfo=UTC) - EPOCH) // US
MISSING = object()  # a JSON key left out of the object
ANY = object()  # a landed value not compared (an id whose quoted newlines the reader reshapes)
STATS: Counter = Counter()  # examples and generated records, printed at the end (-s)


def fuzz(examples: int) -> settings:
    """Reproducible in CI (fixed seed, no example database); no deadline on a 2-core box."""
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None)


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    print(f"\n[fuzz generic collectors] {dict(sorted(STATS.items()))}")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for every example (module scope: hypothesis reruns the test body)."""
    return tmp_path_factory.mktemp("fuzz-generic")


def exact_us(dt: datetime) -> int:
    return ((dt if dt.tzinfo else dt.replace(tzinfo=UTC)) - EPOCH) // US


def is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def is_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def is_blank(line: bytes) -> bool:
    """What the reader skips: a line that decodes to whitespace only."""
    try:
        return not line.decode("utf-8").strip()
    except UnicodeDecodeError:
        return False


# --- field values --------------------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    value: Any  # CSV text, a JSON value, or MISSING
    reason: str | None = None  # the quarantine reason it must get; None: a good value
    clean: Any = ANY  # what a good value lands as


TEXT = st.characters(codec="utf-8", exclude_characters="\r\n")
SPACES = " \t\x0b\x0c\x1c\x1f\x85\xa0\u2028\u3000"  # all str.isspace(): stripped like " "
# Text that trips parsers, picked whole (one choice) half the time: hypothesis pays per character
TRICKY = ("a", "u1", " padded ", "x,y", "x;y", "x|y", "tab\there", 'say "hi"', '"', '""', "'",
          "\\", "\x00", "é", "naïve", "日本語", "🙂", "\u200b", "a\u2028b", "b\x85c", "\ufeff",
          "null", "NaN", "{}", "[1]", "1e5", "-0", "0x1F", "a" * 300)
words = st.sampled_from(TRICKY) | st.text(TEXT, min_size=1, max_size=8).filter(str.strip)
blanks = st.text(SPACES, max_size=3)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(TEXT, max_size=5)
json_values = (json_scalars | st.lists(json_scalars, max_size=3)
               | st.dictionaries(st.text(TEXT, max_size=3), json_scalars, max_size=3))
containers = st.lists(json_values, max_size=3) | st.dictionaries(st.text(TEXT, max_size=3),
                                                                 json_values, max_size=3)
not_finite = st.sampled_from([float("nan"), float("inf"), float("-inf")])
TZS = st.sampled_from([None, UTC, timezone(timedelta(hours=5, minutes=30)),
                       timezone(timedelta(hours=-8))])


def id_cell(value: str) -> Cell:
    """An id as text: what the reader must make of it (stripped; no control characters or
    line/paragraph separators inside; at most MAX_ID_CHARS characters)."""
    clean = value.strip()
    if not clean:
        return Cell(value, "empty value")
    if len(clean) > MAX_ID_CHARS:
        return Cell(value, "id too long")
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in clean):
        return Cell(value, "control character")
    return Cell(value, None, clean)


def good_cell(clean: Any = ANY) -> Any:
    return lambda v: Cell(v, None, clean(v) if callable(clean) else clean)


def bad_cell(reason: str) -> Any:
    return lambda v: Cell(v, reason)


def iso_cell(us: int, tz: tzinfo | None, style: str) -> Cell:
    """An ISO 8601 time ``us`` after 1900-01-01 (UTC), written in ``tz`` (naive: UTC)."""
    dt = datetime(1900, 1, 1, tzinfo=UTC) + us * US
    dt = dt.replace(tzinfo=None) if tz is None else dt.astimezone(tz)
    text = dt.isoformat()
    if style == "zulu" and dt.tzinfo is UTC:
        text = text.replace("+00:00", "Z")
    return Cell(f" {text} " if style == "padded" else text, None, exact_us(dt))


# one choice per time (hypothesis draws st.datetimes field by field): 1900 to 2100, any format
ISO_TIMES = st.builds(iso_cell, st.integers(0, 200 * 365 * 86_400 * 10**6), TZS,
                      st.sampled_from(["plain", "zulu", "padded"]))


def field_cells(fmt: str) -> dict[str, tuple[st.SearchStrategy[Cell], st.SearchStrategy[Cell]]]:
    """(good, bad) cell strategies per column; bad cells know the reason the reader gives."""
    jsonl = fmt == "jsonl"
    long_ids = st.builds(lambda s, n: s * n, st.text(string.ascii_letters, min_size=1,
                                                     max_size=3), st.sampled_from([300, 5000]))
    # "good" ids: most are, but a tab, NUL or line separator inside, or 5000 characters, is not
    good_id = [words.map(id_cell), long_ids.map(id_cell)]
    bad_id = [blanks.map(bad_cell("empty value"))]
    good_dom = [st.builds(lambda a, b, pad: f"{pad}{a}{b}{pad}", st.sampled_from(
        string.ascii_lowercase), st.text(string.ascii_lowercase + string.digits + "_",
                                         max_size=31), st.sampled_from(["", " "])
    ).map(good_cell(str.strip))]
    bad_dom = [words.filter(lambda s: not DOMAIN.fullmatch(s.strip())).map(bad_cell("bad domain")),
               blanks.map(bad_cell("empty value"))]
    num = st.integers(0, 5) | st.floats(0, 5)
    good_rating = [num.map(lambda x: Cell(repr(x), None, float(x))), st.just(Cell("", None, None))]
    bad_rating = [st.text(TEXT, min_size=1, max_size=8).filter(lambda s: not is_float(s))
                  .map(bad_cell("not a number")),
                  st.sampled_from(["nan", "-inf", " Infinity "]).map(bad_cell("not a number"))]
    seconds, millis = st.integers(0, 4_000_000_000), st.integers(200_000_000_000, 4 * 10**12)
    good_ts = [seconds.map(lambda s: Cell(str(s), None, s * 1_000_000)),
               millis.map(lambda ms: Cell(f" {ms} ", None, ms * 1_000)),
               ISO_TIMES]
    out_of_range = (st.integers(-99_999_999_999, -62_135_596_801)
                    | st.integers(253_402_300_800_000, 10**17))
    bad_ts = [st.just(Cell("", "missing value")),
              st.text(TEXT, min_size=1, max_size=10).filter(
                  lambda s: not is_float(s) and not any(c.isdigit() for c in s)
              ).map(bad_cell("bad timestamp")),
              st.sampled_from(["nan", "inf"]).map(bad_cell("not a number")),
              out_of_range.map(lambda x: Cell(str(x), "bad timestamp")),
              st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
              .map(bad_cell("bad timestamp"))]
    if jsonl:  # typed values only JSON can carry
        good_id.append(st.integers().map(good_cell(str)))
        bad_id += [st.just(Cell(None, "missing value")),
                   (st.booleans() | st.floats() | containers).map(bad_cell("bad type")),
                   st.sampled_from(["\ud800", "id\udfff"]).map(bad_cell("bad encoding"))]
        bad_dom += [st.just(Cell(None, "missing value")), st.integers().map(bad_cell("bad domain")),
                    (st.booleans() | st.floats() | containers).map(bad_cell("bad type"))]
        good_rating += [num.map(lambda x: Cell(x, None, float(x))), st.just(Cell(None, None, None))]
        bad_rating += [(st.booleans() | not_finite | containers
                        | st.integers(10**309, 10**320)).map(bad_cell("not a number"))]
        good_ts += [seconds.map(lambda s: Cell(s, None, s * 1_000_000)),
                    millis.map(lambda ms: Cell(ms, None, ms * 1_000))]
        bad_ts += [st.just(Cell(None, "missing value")),
                   (st.booleans() | not_finite | containers).map(bad_cell("not a number")),
                   out_of_range.map(bad_cell("bad timestamp"))]
        for bad in (bad_id, bad_dom, bad_rating, bad_ts):
            bad.append(st.just(Cell(MISSING, "missing field")))
    pairs = [(good_id, bad_id), (good_id, bad_id), (good_dom, bad_dom),
             (good_rating, bad_rating), (good_ts, bad_ts)]
    return {c: (st.one_of(g), st.one_of(b)) for c, (g, b) in zip(COLS, pairs, strict=True)}


CELLS = {fmt: field_cells(fmt) for fmt in ("csv", "jsonl")}


# --- records and files ---------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    fmt: str
    mapped: frozenset[str]  # which of dom, stars, ts the source maps (uid, iid always)
    min_rating: float | None
    delimiter: str
    header: tuple[str, ...]  # CSV column order, extra columns included


@dataclass
class Rec:
    data: bytes  # the record's physical line(s), newline included
    outcome: str  # "land", "bad", "filter", "blank" or "header"
    column: str | None = None
    reason: str | None = None
    landed: tuple = ()  # (user, item, domain, event_us, rating) of a landed row
    if_first: Rec | None = None  # what it becomes at the very start of the file (a BOM)
    then: list[Rec] = field(default_factory=list)
    """A record quarantined at its first line only: what its later lines become on their own."""


def judge(case: Case, cells: dict[str, Cell], data: bytes) -> Rec:
    """What the reader must make of a record whose fields are ``cells``."""
    for col in COLS:
        if (col in ("uid", "iid") or col in case.mapped) and cells[col].reason:
            return Rec(data, "bad", col, cells[col].reason)
    domain = cells["dom"].clean if "dom" in case.mapped else FIXED_DOMAIN
    rating = cells["stars"].clean if "stars" in case.mapped else None
    if case.min_rating is not None and (rating is None or rating < case.min_rating):
        return Rec(data, "filter")
    item = cells["iid"].clean
    event_us = cells["ts"].clean if "ts" in case.mapped else MIDNIGHT_US
    if rating is not None:
        rating = float(np.float32(rating))  # the staged rating column is float32
    return Rec(data, "land", landed=(cells["uid"].clean, ANY if item is ANY else
                                     f"{domain}:{item}", domain, event_us, rating))


def csv_line(values: list[str], delimiter: str) -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\n").writerow(values)
    return buf.getvalue()


def spoil(data: bytes, junk: bytes, at: int) -> bytes:
    """Put bytes that are not UTF-8 somewhere before the newline."""
    at %= len(data)
    out = data[:at] + junk + data[at:]
    assert not is_blank(out) and not _decodes(out)
    return out


def _decodes(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


BAD_BYTES = st.sampled_from([b"\xff", b"\xfe\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe9"])
ROW_KINDS = ("good",) * 4 + ("bad field",) * 3 + ("two bad fields", "bad bytes", "blank",
                                                   "huge id")
CSV_KINDS = ROW_KINDS + ("field count", "stray quote", "bare CR", "multi-line id",
                         "multi-line note", "open quote")
JSONL_KINDS = ROW_KINDS + ("invalid json", "not an object")
# strategies are built once here, not inside the draws: building one costs more than drawing
ANYWHERE = st.integers(0, 10**6)  # a position, taken modulo the length it applies to
BAD_COLS = {1: st.sets(st.sampled_from(COLS), min_size=1, max_size=1),
            2: st.sets(st.sampled_from(COLS), min_size=2, max_size=2)}
BLANK_LINE = st.builds(lambda s, cr: (s + cr + "\n").encode(), blanks, st.sampled_from(["", "\r"]))
EXTRA_TEXT = st.sampled_from(("", " ", *TRICKY)) | st.text(TEXT, max_size=6)
EXTRA_KEYS = st.dictionaries(st.text(TEXT, max_size=4).filter(lambda k: k not in COLS),
                             json_values, max_size=2)
INVALID_JSON = st.sampled_from(["cut short", "BOM", "trailing junk", "too deep", "too many digits",
                                "junk"])
JUNK = st.text(TEXT, min_size=1, max_size=12).filter(lambda s: s.strip() and not is_json(s))
NOT_OBJECTS = json_values | st.lists(json_values, max_size=3)
KINDS = {fmt: st.lists(st.sampled_from(k), min_size=1, max_size=8)
         for fmt, k in (("csv", CSV_KINDS), ("jsonl", JSONL_KINDS))}
HEADER_ORDER = st.permutations(COLS + ("note", "x1", "x2"))
HUGE = "x" * (CSV_FIELD_LIMIT + 10)  # over the csv module's field size limit
LETTERS = st.text(string.ascii_letters, min_size=1, max_size=5)
NOTE = st.builds(lambda a, b, blank: f"{a}\n{blank}{b}", st.text(TEXT, max_size=5),
                 st.text(TEXT, max_size=5), st.sampled_from(["", "\n", " \n\n"]))


def draw_cells(draw: st.DrawFn, fmt: str, n_bad: int = 0) -> dict[str, Cell]:
    bad = draw(BAD_COLS[n_bad]) if n_bad else ()
    return {c: draw(CELLS[fmt][c][1] if c in bad else CELLS[fmt][c][0]) for c in COLS}


def csv_record(draw: st.DrawFn, case: Case, kind: str) -> Rec:
    d = case.delimiter
    if kind == "blank":
        return Rec(draw(BLANK_LINE), "blank")
    cells = draw_cells(draw, "csv", {"bad field": 1, "two bad fields": 2}.get(kind, 0))
    if kind == "huge id":
        cells["uid"] = Cell(HUGE, None, HUGE)
    values = [cells[h].value if h in COLS else draw(EXTRA_TEXT) for h in case.header]
    at = case.header.index("uid")
    if kind == "multi-line id":
        # a quoted line break in a mapped column: line 1 is an unclosed quote, line 2
        # ('w2"' + the fields after uid) is read on its own
        w1, w2 = draw(LETTERS), draw(LETTERS)
        values[at] = f"{w1}\n{w2}"
        first, second = csv_line(values, d).encode().split(b"\n", 1)
        if at:
            then = Rec(second, "bad", None, "wrong field count")
        else:  # all the fields are there: a row whose uid ends in the stray quote
            then = judge(case, cells | {"uid": Cell(f'{w2}"', None, f'{w2}"')}, second)
        return Rec(first + b"\n", "bad", None, "unclosed quote", then=[then])
    if kind == "open quote":  # a quote opened in uid never closes: only this line is lost
        before = csv_line(values[:at], d).rstrip("\n") + d if at else ""
        return Rec(f'{before}"open{d}{draw(LETTERS)}\n'.encode(), "bad", None, "unclosed quote")
    if kind == "multi-line note":  # quoted line breaks (blank lines too) in an unmapped column
        notes = [i for i, h in enumerate(case.header) if h not in COLS]
        if notes:
            values[notes[0]] = draw(NOTE)
    if kind == "field count":
        n = 1 + draw(ANYWHERE) % (len(values) - 1)
        values = values[:-n] if draw(st.booleans()) else values + [draw(words)] * n
        return Rec(csv_line(values, d).encode(), "bad", None, "wrong field count")
    if kind in ("stray quote", "bare CR"):  # a first field the csv module refuses (strict)
        first = '"q"z' if kind == "stray quote" else "a\rb"
        return Rec((first + d + csv_line(values[1:], d)).encode(), "bad", None, "invalid csv")
    data = csv_line(values, d).encode()
    if kind == "huge id":
        return Rec(data, "bad", None, "invalid csv")
    if kind == "bad bytes":
        return Rec(spoil(data, draw(BAD_BYTES), draw(ANYWHERE)), "bad", None, "bad encoding")
    return judge(case, cells, data)



def broken_json(draw: st.DrawFn, text: str, key: str) -> str:
    """``text`` (a JSON object) made invalid in one of the ways a decoder must survive."""
    return {"cut short": lambda: text[: 1 + draw(ANYWHERE) % (len(text) - 1)],
            "BOM": lambda: "\ufeff" + text,
            "trailing junk": lambda: text + " x",
            "too deep": lambda: "[" * 100_000,
            "too many digits": lambda: f'{{"{key}": ' + "1" * 5000 + "}",
            "junk": lambda: draw(JUNK)}[draw(INVALID_JSON)]()

def jsonl_record(draw: st.DrawFn, case: Case, kind: str) -> Rec:
    if kind == "blank":
        return Rec(draw(BLANK_LINE), "blank")
    cells = draw_cells(draw, "jsonl", {"bad field": 1, "two bad fields": 2}.get(kind, 0))
    if kind == "huge id":
        cells["uid"] = id_cell(HUGE)  # over max_id_chars
    obj = {c: cell.value for c, cell in cells.items() if cell.value is not MISSING}
    obj |= draw(EXTRA_KEYS)  # keys the mapping doesn't name are ignored
    ascii_only = draw(st.booleans()) or any(c.reason == "bad encoding" for c in cells.values())
    text = json.dumps(obj, ensure_ascii=ascii_only)  # a lone surrogate needs the \u escape
    if kind == "invalid json":
        broken = broken_json(draw, text, "uid")
        rec = Rec((broken + "\n").encode(), "bad", None, "invalid json")
        if broken == "\ufeff" + text:  # the first line's BOM is dropped: then it is a row
            rec.if_first = judge(case, cells, rec.data)
        return rec
    if kind == "not an object":
        value = draw(NOT_OBJECTS)
        value = [value] if isinstance(value, dict) else value
        return Rec((json.dumps(value) + "\n").encode(), "bad", None, "not an object")
    data = (text + "\n").encode()
    if kind == "bad bytes":
        return Rec(spoil(data, draw(BAD_BYTES), draw(ANYWHERE)), "bad", None, "bad encoding")
    return judge(case, cells, data)


@dataclass
class FileCase:
    case: Case
    recs: list[Rec]
    plain: bytes  # the file's content before compression
    stored: bytes  # what is written: plain, gzipped, or gzipped and cut
    cut: bool
    rows_per_batch: int


@st.composite
def files(draw: st.DrawFn, fmt: str) -> FileCase:
    mapped = frozenset(c for c in ("dom", "stars", "ts") if draw(st.booleans()))
    min_rating = draw(st.sampled_from([None, MIN_RATING])) if "stars" in mapped else None
    header, delimiter = COLS, ","
    if fmt == "csv":  # any column order, with 0-3 extra columns
        n_extra = draw(st.integers(0, 3))
        header = tuple(h for h in draw(HEADER_ORDER)
                       if h in COLS or h in ("note", "x1", "x2")[:n_extra])
        delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    case = Case(fmt, mapped, min_rating, delimiter, header)
    make = csv_record if fmt == "csv" else jsonl_record
    recs = [x for kind in draw(KINDS[fmt]) for r in [make(draw, case, kind)]
            for x in (r, *r.then)]
    if fmt == "csv":
        pad = " " if draw(st.booleans()) else ""
        head = csv_line([pad + h + pad for h in header], delimiter).encode()
        before = [Rec(draw(BLANK_LINE), "blank") for _ in range(draw(st.integers(0, 2)))]
        recs = [*before, Rec(head, "header"), *recs]
        if draw(st.integers(0, 4)) == 0:  # a quote still open at the end of the file
            recs.append(Rec(f'"open{delimiter}a{delimiter}b\n'.encode(), "bad", None,
                            "unclosed quote"))
    if recs[0].if_first is not None:
        recs[0] = recs[0].if_first
    plain = b"".join(r.data for r in recs)
    if plain.endswith(b"\n") and not draw(st.booleans()):
        plain, recs[-1].data = plain[:-1], recs[-1].data[:-1]  # no newline at the end
    how = draw(st.sampled_from(["plain", "gzip", "cut gzip"]))
    stored = plain if how == "plain" else gzip.compress(plain, mtime=0)
    if how == "cut gzip":
        stored = stored[: 2 + draw(ANYWHERE) % (len(stored) - 2)]  # past the 2-byte magic
    return FileCase(case, recs, plain, stored, how == "cut gzip",
                    draw(st.sampled_from([1, 3, 1000])))


# --- the oracle ----------------------------------------------------------------------------

@dataclass
class Expected:
    rows: list[tuple] = field(default_factory=list)  # (line, user, item, domain, us, rating)
    bad: Counter = field(default_factory=Counter)  # (line, column, reason) -> count
    filtered: int = 0

    @property
    def read(self) -> int:
        return len(self.rows) + sum(self.bad.values()) + self.filtered


def physical_lines(data: bytes) -> list[bytes]:
    parts = data.split(b"\n")
    return [p + b"\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def expected(fc: FileCase) -> Expected:
    """Outcome of each record, worked out from the generator (a cut gzip fails instead)."""
    exp = Expected()
    line_no = 0
    for rec in fc.recs:
        lines = physical_lines(rec.data)
        first = line_no + 1
        line_no += len(lines)
        if rec.outcome in ("header", "blank") or all(is_blank(x) for x in lines):
            continue
        if rec.outcome == "land":  # a record counts under its first line
            exp.rows.append((first, *rec.landed))
        elif rec.outcome == "bad":
            exp.bad[(first, rec.column, rec.reason)] += 1
        else:
            exp.filtered += 1
    return exp


# --- running the reader --------------------------------------------------------------------

def source(case: Case, path: Path) -> GenericSource:
    names = {"dom": "domain", "stars": "rating", "ts": "event_ts"}
    columns = {"user_id": "uid", "item_id": "iid"} | {names[c]: c for c in case.mapped}
    kw: dict[str, Any] = {"path": str(path), "columns": columns, "min_rating": case.min_rating,
                          "domain": None if "dom" in case.mapped else FIXED_DOMAIN}
    if case.fmt == "csv":
        return CsvSource(delimiter=case.delimiter, **kw)
    return JsonlSource(**kw)


class MemoryQuarantine(QuarantineLog):
    """The quarantine as the Arrow tables the Parquet writer would get: the same conversion
    (where odd text would fail), without ~8 ms of file I/O per example."""

    def __init__(self) -> None:
        super().__init__(Path("unused.parquet"))
        self.tables: list[pa.Table] = []

    def _write(self, table: pa.Table) -> None:
        self.tables.append(table)


def run_reader(cfg: GenericSource, path: Path, rows_per_batch: int, on_disk: bool = False
               ) -> tuple[pa.Table | None, list[dict], Any]:
    """Landed rows, quarantine entries and the tally; ``on_disk`` writes and reads back the
    real Parquet quarantine."""
    qlog = QuarantineLog(path.with_suffix(".quarantine.parquet")) if on_disk \
        else MemoryQuarantine()
    log = RowLog(qlog)
    batches = list(read(cfg, path, RUN_DATE, log, rows_per_batch))
    qpath = qlog.close()
    table = pa.Table.from_batches(batches) if batches else None
    if isinstance(qlog, MemoryQuarantine):
        bad = [row for t in qlog.tables for row in t.to_pylist()]
    else:
        bad = pq.read_table(qpath).to_pylist() if qpath else []
    assert len(bad) == qlog.rows
    return table, bad, log.files[str(path)]


def landed_rows(table: pa.Table | None) -> Iterator[tuple]:
    if table is None:
        return iter(())
    cols = [table["line"].to_pylist(), table["user_id"].to_pylist(),
            table["item_id"].to_pylist(), table["domain"].to_pylist(),
            table["event_ts"].cast(pa.int64()).to_pylist(), table["rating"].to_pylist()]
    return zip(*cols, strict=True)


def check_file(fc: FileCase, folder: Path) -> None:
    path = folder / f"in.{fc.case.fmt}"
    path.write_bytes(fc.stored)
    if fc.cut:  # not one "bad row" among thousands (max_bad_ratio could never trip): an error
        with pytest.raises(InputDataError, match="truncated or corrupt") as err:
            run_reader(source(fc.case, path), path, fc.rows_per_batch)
        assert str(path) in str(err.value)
        STATS[f"{fc.case.fmt} cut gzip files"] += 1
        return
    table, bad, tally = run_reader(source(fc.case, path), path, fc.rows_per_batch)
    exp = expected(fc)

    got_rows = list(landed_rows(table))
    assert len(got_rows) == len(exp.rows), (got_rows, exp.rows)
    for got, want in zip(got_rows, exp.rows, strict=True):
        assert all(w is ANY or g == w for g, w in zip(got, want, strict=True)), (got, want)
    assert Counter((b["line"], b["column"], b["reason"]) for b in bad) == exp.bad
    assert sum(tally.filtered.values()) == exp.filtered
    # the accounting invariant, against the independent count
    assert tally.read == exp.read == len(got_rows) + len(bad) + exp.filtered
    assert sum(tally.quarantined.values()) == len(bad)
    for b in bad:  # each entry says where and why, and keeps the raw row
        assert b["file"] == str(path) and b["line"] >= 1 and b["reason"] and b["detail"]
        assert b["raw"]
    if table is not None:
        assert set(table["file"].to_pylist()) == {str(path)}
        ids = table["user_id"].to_pylist() + table["item_id"].to_pylist()
        assert not any("\n" in i or "\r" in i for i in ids)  # an id never holds a line break
    fmt = fc.case.fmt
    STATS[f"{fmt} records"] += sum(r.outcome not in ("header", "blank") for r in fc.recs)
    STATS[f"{fmt} blank lines"] += sum(r.outcome == "blank" for r in fc.recs)
    STATS[f"{fmt} landed"] += len(got_rows)
    STATS[f"{fmt} quarantined"] += len(bad)
    STATS[f"{fmt} filtered"] += exp.filtered


@fuzz(450)
@given(fc=files("csv"))
def test_csv_rows_land_or_are_quarantined(fc: FileCase, folder: Path) -> None:
    STATS["csv examples"] += 1
    check_file(fc, folder)


@fuzz(450)
@given(fc=files("jsonl"))
def test_jsonl_rows_land_or_are_quarantined(fc: FileCase, folder: Path) -> None:
    STATS["jsonl examples"] += 1
    check_file(fc, folder)


HEADER = b"uid,iid,dom,stars,ts\n"


@fuzz(500)
@given(fmt=st.sampled_from(["csv", "jsonl"]),
       head=st.sampled_from([b"", HEADER, b"\x1f\x8b", b"\x1f\x8b\x08\x00", b"PAR1"]),
       body=st.binary(max_size=200), zipped=st.booleans())
def test_arbitrary_bytes_never_crash(fmt: str, head: bytes, body: bytes, zipped: bool,
                                     folder: Path) -> None:
    """Any bytes at all: a clear whole-file error naming the file, or rows and quarantine
    entries that account for every line."""
    STATS["arbitrary-bytes examples"] += 1
    path = folder / f"junk.{fmt}"
    data = gzip.compress(head + body, mtime=0) if zipped else head + body
    path.write_bytes(data)
    case = Case(fmt, frozenset({"dom", "stars", "ts"}), None, ",", COLS)
    try:
        table, bad, tally = run_reader(source(case, path), path, 2, on_disk=True)
    except InputDataError as exc:  # a whole-file problem: Parquet, a bad header, a cut gzip
        assert str(path) in str(exc)
        # JSON lines has no header to fail
        assert fmt == "csv" or data.startswith((b"PAR1", b"\x1f\x8b"))
        return
    rows = table.num_rows if table is not None else 0
    assert tally.read == rows + len(bad) + sum(tally.filtered.values())
    assert sum(tally.quarantined.values()) == len(bad)
    if not data.startswith(b"\x1f\x8b") or zipped:  # readable: at most one record per line
        assert tally.read <= (head + body).count(b"\n") + 1
    for b in bad:
        assert b["file"] == str(path) and b["line"] >= 1 and b["reason"]
    STATS["arbitrary-bytes lines"] += (head + body).count(b"\n") + 1
