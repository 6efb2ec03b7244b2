"""Fuzz the click-log ingester with random good, malformed and unservable events.

Two levels: the per-file parser (``parse_file``) with many examples, and the whole
``ingest_day`` (screening, de-duplication, the contract suite, the lake) with fewer, since each
one runs the Great Expectations suite. Every generated line knows what must become of it, so
read = kept + quarantined is checked against an independent count of the input.

Run with ``-s`` to see how many examples and lines were generated.
"""

from __future__ import annotations

import gzip
import json
import tempfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crossrec.clicks.ingest import click_paths, ingest_day
from crossrec.clicks.parse import FIELDS, parse_file
from crossrec.schemas import EVENT_TYPES
from tests.clicks.test_ingest import DAY, NOW, SERVED, publish_fake_lists
from tests.collect.test_fuzz_generic import (
    ANYWHERE,
    BLANK_LINE,
    ISO_TIMES,
    MISSING,
    Cell,
    bad_cell,
    blanks,
    broken_json,
    containers,
    fuzz,
    good_cell,
    is_blank,
    json_values,
    not_finite,
    physical_lines,
    words,
)
from tests.conftest import tiny_settings

FIRST_DAY = date(1900, 1, 1)
STATS: Counter = Counter()  # examples and generated lines, printed at the end (-s)
REASONS: Counter = Counter()  # what ingest_day quarantined, over all examples


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    print(f"\n[fuzz click ingest] {dict(sorted(STATS.items()))}"
          f"\n[fuzz click ingest] ingest_day quarantined: {dict(REASONS.most_common())}")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-clicks")


# --- field values, in the parser's check order ---------------------------------------------

def no_digits(text: str) -> bool:  # then it is neither a number nor an ISO date
    return not any(c.isdigit() for c in text)


def is_rank(x: float) -> bool:
    return x.is_integer() and 1 <= x <= 32767


text_ids = (words.map(good_cell(str.strip)) | st.integers().map(good_cell(str)),
            blanks.map(bad_cell("empty value"))
            | (st.booleans() | st.floats() | containers).map(bad_cell("bad type"))
            | st.sampled_from(["\ud800", "id\udfff"]).map(bad_cell("bad encoding")))
BASE_CELLS = {  # (good, bad) per field
    "event_id": text_ids,
    "event_ts": (
        ISO_TIMES
        | st.integers(0, 4_000_000_000).map(lambda s: Cell(s, None, s * 1_000_000))
        | st.integers(200_000_000_000, 4 * 10**12).map(lambda ms: Cell(ms, None, ms * 1_000)),
        st.just(Cell("", "missing value"))
        | st.text(max_size=8).filter(lambda s: s and no_digits(s)).map(bad_cell("bad timestamp"))
        | st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
        .map(bad_cell("bad timestamp"))
        | st.integers(253_402_300_800_000, 10**17).map(bad_cell("bad timestamp"))
        | (st.booleans() | not_finite | containers).map(bad_cell("not a number"))),
    "user_id": text_ids,
    "item_id": text_ids,
    "event_type": (
        st.sampled_from(EVENT_TYPES).map(good_cell(str)),
        (words.filter(lambda s: s not in EVENT_TYPES) | st.sampled_from([" click", "Click"])
         | st.integers() | st.booleans() | containers).map(bad_cell("unknown event type"))),
    "rec_run_date": (
        st.builds(lambda days, pad: Cell(pad + (FIRST_DAY + timedelta(days)).isoformat() + pad,
                                          None, FIRST_DAY + timedelta(days)),
                  st.integers(0, 73_000), st.sampled_from(["", " "])),
        (words.filter(no_digits) | st.booleans() | containers).map(bad_cell("bad date"))),
    "rank": (
        st.integers(1, 32767).map(good_cell(int))
        | st.integers(1, 32767).map(lambda n: Cell(float(n), None, n))
        | st.integers(1, 32767).map(lambda n: Cell(f" {n} ", None, n))
        | st.sampled_from(["٣", "１２"]).map(good_cell(int)),  # int() reads any decimal digit
        (st.integers(max_value=0) | st.integers(min_value=32768)
         | st.floats().filter(lambda x: not is_rank(x)) | st.booleans() | containers
         | st.sampled_from(["³", "1.0", "+1", "-1", "", " ", "one"])).map(bad_cell("bad rank"))),
    "model_version": text_ids,
}
ABSENT = st.sampled_from([Cell(MISSING, "missing field"), Cell(None, "missing field")])
CELLS = {name: (good, bad | ABSENT) for name, (good, bad) in BASE_CELLS.items()}


@dataclass
class Line:
    data: bytes  # one physical line, newline included
    outcome: str  # "kept", "bad" or "blank" (parse level; ingest screens kept ones further)
    column: str | None = None
    reason: str | None = None
    event: tuple = ()  # a kept event's clean values in FIELDS order
    extra: tuple[str, ...] = ()  # keys outside the contract (dropped and counted)


def record_line(cells: dict[str, Cell], extra: dict[str, Any], ascii_only: bool) -> Line:
    obj = {k: c.value for k, c in cells.items() if c.value is not MISSING} | extra
    ascii_only = ascii_only or any(c.reason == "bad encoding" for c in cells.values())
    data = (json.dumps(obj, ensure_ascii=ascii_only) + "\n").encode()
    for name in FIELDS:  # the first bad field in check order decides
        if cells[name].reason:
            return Line(data, "bad", name, cells[name].reason)
    return Line(data, "kept", event=tuple(cells[n].clean for n in FIELDS), extra=tuple(extra))


KINDS = st.lists(st.sampled_from(("good",) * 4 + ("bad field",) * 3 + (
    "two bad fields", "invalid json", "not an object", "bad bytes", "blank")), max_size=10)
BAD_FIELDS = {n: st.sets(st.sampled_from(FIELDS), min_size=n, max_size=n) for n in (1, 2)}
INVALID_UTF8 = st.sampled_from([  # stray, cut, overlong, a surrogate, above U+10FFFF, 5 bytes
    b"\xff", b"\xfe", b"\x80", b"\xc3", b"\xe2\x82", b"\xc0\xaf", b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80"])
EXTRA_KEYS = st.dictionaries(st.sampled_from(["device", "session", "ab_group"]), json_values,
                             max_size=2)


def parse_line(draw: st.DrawFn, kind: str) -> Line:
    """One line of a click log as the parser must see it."""
    if kind == "blank":
        return Line(draw(BLANK_LINE), "blank")
    n_bad = {"bad field": 1, "two bad fields": 2}.get(kind, 0)
    bad = draw(BAD_FIELDS[n_bad]) if n_bad else ()
    cells = {n: draw(CELLS[n][1] if n in bad else CELLS[n][0]) for n in FIELDS}
    line = record_line(cells, draw(EXTRA_KEYS), draw(st.booleans()))
    text = line.data.decode().rstrip("\n")
    if kind == "invalid json":
        return Line((broken_json(draw, text, "rank") + "\n").encode(), "bad", None,
                    "invalid json")
    if kind == "not an object":
        value = draw(json_values | st.lists(json_values, max_size=3))
        value = [value] if isinstance(value, dict) else value
        return Line((json.dumps(value) + "\n").encode(), "bad", None, "not an object")
    if kind == "bad bytes":  # not UTF-8 anywhere in the line: quarantined, never replaced
        at = draw(ANYWHERE) % len(line.data)  # before the newline
        return Line(line.data[:at] + draw(INVALID_UTF8) + line.data[at:], "bad", None,
                    "bad encoding")
    return line


@dataclass
class LogFile:
    name: str
    lines: list[Line]
    plain: bytes
    stored: bytes
    cut: bool


def pack(draw: st.DrawFn, name: str, lines: list[Line]) -> LogFile:
    """Plain, gzipped or gzipped and cut; maybe without a final newline."""
    plain = b"".join(line.data for line in lines)
    if plain.endswith(b"\n") and not draw(st.booleans()):
        plain, lines[-1].data = plain[:-1], lines[-1].data[:-1]
    how = draw(st.sampled_from(["plain", "gzip", "cut gzip"]))
    stored = plain if how == "plain" else gzip.compress(plain, mtime=0)
    if how == "cut gzip":
        stored = stored[: 2 + draw(ANYWHERE) % (len(stored) - 2)]
    names = [".jsonl", ".ndjson", ".json", ".JSONL"]  # every name the parser reads
    suffix = draw(st.sampled_from(names if how == "plain" else [n + ".gz" for n in names]))
    return LogFile(name + suffix, lines, plain, stored, how == "cut gzip")


@st.composite
def log_files(draw: st.DrawFn) -> LogFile:
    return pack(draw, "log", [parse_line(draw, k) for k in draw(KINDS)])


def readable(f: LogFile) -> tuple[list[tuple[int, Line]], int | None]:
    """(line number, line) of each whole line the parser gets, and where a cut gzip breaks
    (the line after the last whole one; None when not cut). zlib finds what a cut stream
    still holds; the gzip reader hands out only lines that end before the cut."""
    if not f.cut:
        return list(enumerate(f.lines, start=1)), None
    recovered = zlib.decompressobj(wbits=31).decompress(f.stored)
    out, offset = [], 0
    for number, line in enumerate(f.lines, start=1):
        if offset + len(line.data) > len(recovered) or not line.data.endswith(b"\n"):
            break
        offset += len(line.data)
        out.append((number, line))
    return out, len(out) + 1


# --- the parser ----------------------------------------------------------------------------

@fuzz(800)
@given(f=log_files())
def test_parser_keeps_or_quarantines_every_line(f: LogFile, folder: Path) -> None:
    assert all(len(physical_lines(line.data)) <= 1 for line in f.lines)  # one line each
    path = folder / f.name
    path.write_bytes(f.stored)
    parsed = parse_file(path)

    lines, cut_at = readable(f)
    want_events = [(*line.event, n) for n, line in lines if line.outcome == "kept"]
    want_bad = Counter((n, line.column, line.reason) for n, line in lines
                       if line.outcome == "bad")
    if cut_at is not None:
        want_bad[(cut_at, None, "truncated file")] += 1
    got_events = list(zip(*(parsed.columns[k] for k in (*FIELDS, "line")), strict=True))
    assert got_events == want_events
    assert Counter((b.line, b.column, b.reason) for b in parsed.bad) == want_bad
    assert parsed.read == len(want_events) + sum(want_bad.values())  # independent count
    assert parsed.read == parsed.kept + len(parsed.bad)  # the accounting invariant
    assert parsed.extra_columns == dict(Counter(k for n, line in lines for k in line.extra
                                                if line.outcome == "kept"))
    for b in parsed.bad:
        assert b.line >= 1 and b.reason and b.detail
        assert (b.raw is None) == (b.reason == "truncated file")
    STATS["parser examples"] += 1
    STATS["parser lines"] += len(f.lines)
    STATS["parser kept"] += parsed.kept
    STATS["parser quarantined"] += len(parsed.bad)


# --- the whole day -------------------------------------------------------------------------

@dataclass
class Event:
    """A well-formed event and how screening must treat it."""

    fields: dict[str, Any]
    ts: datetime
    fate: str  # "kept", or the quarantine reason screening gives


SERVED_TO = {"u1": ["cloth:1", "cloth:2"], "u2": ["cloth:3"]}  # what publish_fake_lists serves
ITEMS = [i for items in SERVED_TO.values() for i in items]
LIMIT = NOW + timedelta(minutes=5)  # clicks.future_tolerance_s defaults to 300
LIST_START = datetime(2026, 11, 22, tzinfo=UTC)  # the list of SERVED exists from its day on
PAST = st.datetimes(LIST_START.replace(tzinfo=None), datetime(2026, 11, 24, 1, 59),
                    timezones=st.just(UTC))
FATES = st.lists(st.sampled_from((
    "kept", "kept", "kept", "late", "unserved pair", "unknown user", "unknown item",
    "wrong rank", "wrong model version", "before its list",
    "no published run", "future timestamp", "duplicate event_id", "malformed", "blank")),
    min_size=1, max_size=8)
MALFORMED = st.sampled_from(["bad field", "two bad fields", "invalid json", "not an object",
                           "bad bytes"])


def event(draw: st.DrawFn, number: int, fate: str) -> Event:
    user = draw(st.sampled_from(sorted(SERVED_TO)))
    item = draw(st.sampled_from(SERVED_TO[user]))
    ts, run, model = draw(PAST), SERVED, "v1"
    rank = SERVED_TO[user].index(item) + 1  # the rank it was served at
    if fate == "late":  # yesterday's session: kept, in the day before's partition
        ts = draw(st.datetimes(datetime(2026, 11, 22), datetime(2026, 11, 22, 23, 59),
                               timezones=st.just(UTC)))
    elif fate == "unserved pair":  # user and item both served that day, not together
        user, item = "u2", draw(st.sampled_from(SERVED_TO["u1"]))
    elif fate == "unknown user":
        user = draw(words.filter(lambda s: s.strip() not in SERVED_TO))
    elif fate == "unknown item":
        item = draw(words.filter(lambda s: s.strip() not in ITEMS))
    elif fate == "wrong rank":  # the served pair, at a rank it was not shown at (e.g. 999)
        rank = draw(st.integers(1, 32767).filter(lambda r: r != rank))
    elif fate == "wrong model version":
        model = draw(words.filter(lambda s: s.strip() != "v1"))
    elif fate == "before its list":  # a click on a list that did not exist yet
        ts = draw(st.datetimes(datetime(2000, 1, 1), LIST_START.replace(tzinfo=None)
                               - timedelta(microseconds=1), timezones=st.just(UTC)))
    elif fate == "no published run":
        run = draw(st.dates(date(2020, 1, 1), date(2030, 1, 1)).filter(lambda d: d != SERVED))
    elif fate == "future timestamp":
        ts = draw(st.datetimes(LIMIT.replace(tzinfo=None) + timedelta(seconds=1),
                               datetime(2100, 1, 1), timezones=st.just(UTC)))
    whole_seconds = ts.microsecond == 0 and draw(st.booleans())
    fields = {"event_id": f"e{number}",
              "event_ts": int(ts.timestamp()) if whole_seconds else ts.isoformat(),
              "user_id": user, "item_id": item, "event_type": draw(st.sampled_from(EVENT_TYPES)),
              "rec_run_date": run.isoformat(), "rank": rank, "model_version": model}
    return Event(fields, ts, "kept" if fate == "late" else fate)


@dataclass
class ParquetLog:
    name: str
    events: list[Event]

    def table(self) -> pa.Table:  # typed columns: event_ts always as ISO text
        return pa.Table.from_pylist([ev.fields | {"event_ts": ev.ts.isoformat()}
                                     for ev in self.events])


@dataclass
class Day:
    files: list[LogFile | ParquetLog]
    events: dict[tuple[str, int], Event] = field(default_factory=dict)  # by (file, line)


@st.composite
def days(draw: st.DrawFn) -> Day:
    """1-3 files of served, unservable, duplicated, malformed and blank lines."""
    day, number, earlier = Day([]), 0, []
    for i in range(draw(st.integers(1, 3))):
        parquet = draw(st.integers(0, 4)) == 0
        lines: list[Line] = []
        events: list[Event] = []
        for fate in draw(FATES):
            if fate in ("malformed", "blank"):
                if not parquet:  # Parquet rows are typed: field problems are the parser test's
                    lines.append(parse_line(draw, draw(MALFORMED) if fate == "malformed"
                                            else "blank"))
                continue
            if fate == "duplicate event_id" and earlier:  # the same event delivered again
                ev = earlier[draw(ANYWHERE) % len(earlier)]
            else:
                number += 1
                ev = event(draw, number, "kept" if fate == "duplicate event_id" else fate)
                earlier.append(ev)
            events.append(ev)
            lines.append(Line((json.dumps(ev.fields) + "\n").encode(), "kept"))
            day.events[(f"f{i}", len(lines))] = ev
        day.files.append(ParquetLog(f"f{i}.parquet", events) if parquet
                         else pack(draw, f"f{i}", lines))
    return day


def expected_day(day: Day, stored: dict[str, bytes]) -> tuple[int, list[str], Counter, int]:
    """(read, kept event ids, quarantined by reason, skipped files): the ingester's steps
    replayed on what was generated, in its file and line order."""
    read, kept, reasons, seen, skipped = 0, [], Counter(), set(), 0
    for f in sorted(day.files, key=lambda f: f.name):
        if stored[f.name] in seen:  # the same bytes again: skipped by checksum
            skipped += 1
            continue
        seen.add(stored[f.name])
        cut_at = None
        if isinstance(f, LogFile):
            lines, cut_at = readable(f)
            stem = f.name.split(".")[0]
            outcomes = [(line, day.events.get((stem, n))) for n, line in lines
                        if not is_blank(line.data)]
        else:
            outcomes = [(None, ev) for ev in f.events]
        for line, ev in outcomes:
            read += 1
            if ev is None:  # malformed: the parser's reason
                reasons[line.reason] += 1
            elif ev.fate != "kept":
                reasons[ev.fate] += 1
            elif ev.fields["event_id"] in kept:  # screening runs before de-duplication
                reasons["duplicate event_id"] += 1
            else:
                kept.append(ev.fields["event_id"])
        if cut_at is not None:
            read += 1
            reasons["truncated file"] += 1
    return read, kept, reasons, skipped


@fuzz(40)
@given(day=days())
def test_ingest_day_keeps_or_quarantines_every_event(day: Day) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = tiny_settings(Path(tmp) / "data")
        publish_fake_lists(settings)
        paths = click_paths(settings, DAY)
        paths.drop.mkdir(parents=True)
        for f in day.files:
            if isinstance(f, LogFile):
                (paths.drop / f.name).write_bytes(f.stored)
            else:
                pq.write_table(f.table(), paths.drop / f.name)
        stored = {f.name: (paths.drop / f.name).read_bytes() for f in day.files}
        summary = ingest_day(settings, DAY, now=NOW)

        read, kept, reasons, skipped = expected_day(day, stored)
        totals = summary["totals"]
        assert (totals["read"], totals["kept"], totals["quarantined"]) == (
            read, len(kept), sum(reasons.values()))
        assert totals["read"] == totals["kept"] + totals["quarantined"]
        assert summary["quarantined_by_reason"] == dict(reasons)
        assert len(summary["skipped_files"]) == skipped
        for f in summary["files"]:
            assert f["read"] == f["kept"] + f["quarantined"], f
        assert sum(summary["written"].values()) == len(kept)

        if kept:
            landed = pl.read_parquet(paths.lake, hive_partitioning=True)
            assert sorted(landed["event_id"].to_list()) == sorted(kept)
            # each event in the partition of its own UTC date (late ones the day before)
            assert (landed["event_ts"].dt.date() == landed["event_date"]).all()
        else:
            assert not list(paths.lake.rglob("*.parquet"))
        bad = pl.read_parquet(paths.quarantine) if totals["quarantined"] else None
        if bad is not None:
            assert bad.height == totals["quarantined"]
            assert bad["file"].null_count() == bad["line"].null_count() == 0
            assert bad["reason"].null_count() == 0
    STATS["ingest_day examples"] += 1
    STATS["ingest_day files"] += len(day.files)
    STATS["ingest_day read"] += read
    STATS["ingest_day kept"] += len(kept)
    REASONS.update(reasons)
