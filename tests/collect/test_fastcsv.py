"""The CSV fast path (``crossrec/collect/fastcsv.py``) against the line-by-line reader.

The property test writes files that mix clean rows (quoted or not, CRLF or LF) with every
family of bad input the fuzz and hostile tests use, then reads each file twice, with
``fast_csv`` on and off, and asserts the same landed batches (values, line numbers, order,
batch cuts), the same quarantine entries in the same order, the same tallies and warnings,
and the same error for a file that fails. Blocks, runs and limits are made tiny so block
edges, runs of one line and lines too long all occur in files of a few dozen lines.

The known-answer tests pin the column-wise checks to what the row parser accepts.
"""

from __future__ import annotations

import gzip
import math
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossrec.collect import fastcsv
from crossrec.collect.fields import FieldError, float32
from crossrec.collect.generic import read
from crossrec.collect.rows import Limits, RowLog
from crossrec.collect.sources import CsvSource
from crossrec.collect.textlines import raw_lines
from crossrec.errors import InputDataError
from crossrec.schemas import item_key, item_keys
from tests.collect.test_fuzz_generic import MemoryQuarantine
from tests.conftest import RUN_DATE

COLS = ("uid", "iid", "dom", "stars", "ts")
EXTRA = ("note", "x1")


def prop(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fastcsv")


# --- values: good ones and every kind of bad one -------------------------------------------

IDS = st.sampled_from([
    "u1", "item-7", " padded ", "a b", "x" * 40, "", "  ", "é", "naïve", "日本", "a\tb", "\tlead",
    "a\x00b", "a\x7fb", "a\x1fb", "\x1c", "a\u2028b", "b\x85c", "\ufeff", "\u200b", "a,b", "a;b",
    "a|b", 'q"q', '"', "'", "\\", "null", "NaN", "1e5", "x" * 70, "a\rb"]) | st.text(
    "abcXYZ019 _-.:", min_size=1, max_size=12)
DOMAINS = st.sampled_from(["book", " book ", "sport", "Book", "b_1", "1b", "", " ", "a" * 32,
                           "a" * 33, "é", "bo\tok", "b-k", "book\x00"])
RATINGS = st.sampled_from([
    "5", "4.5", "3", "2.9999999", "", " ", " 4 ", "+5", "5.", ".5", "-.5", "1e0", "1E+0", "0005",
    "5_000", "1e300", "-1e39", "3.4028234663852886e38", "3.4028235e38", "3.4028236e38", "nan",
    "inf", "-inf", "Infinity", "0x1", "٣", "1e", "e1", ".", "abc", "-0", "4\t", "\t4",
    "1" * 40, "0." + "0" * 30 + "1"]) | st.floats(allow_nan=False, allow_infinity=False).map(
    repr) | st.integers(-10, 10).map(str)
TIMES = st.sampled_from([
    "", " ", "0", "-5", "1", "1700000000", " 1700000000 ", "1700000000.5", "1.7e9", "1.7E+09",
    "1700000000000", "1700000000000000", "99999999999", "100000000001", "1e400", "nan", "inf",
    "253402300799", "253402300800", "-62135596800", "-62135596801", "1800000000", "4e9",
    "2024-01-01T00:00:00Z", "2024-01-01", "2024-01-01 10:00:00+05:30", "20240101", "bad",
    "1_700_000_000", "１７", "+1700000000", ".5", "0x10", "1700000000.999999"]) | st.integers(
    -10**13, 10**16).map(str) | st.floats(0, 5e12).map(repr)
TEXT = st.sampled_from(["", "plain", "été", "🙂", "a,b", 'say "hi"', "\x00", "tab\tin",
                        "\x0b", "x" * 200])

LINE_KINDS = st.sampled_from(
    ["good"] * 40 + ["blank", "wrong count", "stray quote", "open quote", "multi-line note",
                     "bad bytes", "nul", "bare cr", "huge", "quoted delim", "doubled quote",
                     "space quote", "bom"])


QUOTING = st.sampled_from(["none", "minimal", "all"])


@dataclass(frozen=True)
class Setup:
    delimiter: str
    header: tuple[str, ...]
    mapped: frozenset[str]
    min_rating: float | None
    ts_unit: str
    max_id: int
    max_line: int
    rows_per_batch: int
    block_lines: int
    block_bytes: int
    min_run: int
    store: str  # plain, gzip, cut gzip
    distinct_check: int = 4096  # 0: ratings always through the regex lane


def render(fields: list[str], d: str, quoting: str) -> str:
    def one(v: str) -> str:
        needs = any(c in v for c in (d, '"', "\n", "\r"))
        if quoting == "all" or (quoting == "minimal" and needs):
            return '"' + v.replace('"', '""') + '"'
        return v
    return d.join(map(one, fields))


@st.composite
def line(draw: st.DrawFn, s: Setup) -> str:
    """One record's text, without its line end (or with a quoted line break inside)."""
    d = s.delimiter
    kind = draw(LINE_KINDS)
    pools = {"uid": IDS, "iid": IDS, "dom": DOMAINS, "stars": RATINGS, "ts": TIMES}
    values = [draw(pools.get(h, TEXT)) for h in s.header]
    quoting = draw(QUOTING)
    if kind == "good":  # most rows clean, in the clean forms the fast path takes
        good = {"uid": draw(st.sampled_from(["u1", "u2", " u3 ", "a b"])),
                "iid": draw(st.sampled_from(["i1", "i-2", "i3"])),
                "dom": draw(st.sampled_from(["book", "sport"])),
                "stars": draw(st.sampled_from(["5", "4.5", "1", "", "2.25"])),
                "ts": draw(st.sampled_from(["1700000000", "1700000000123", "1700000000.25",
                                            "1700000000123456"]))}
        values = [good.get(h, v) for h, v in zip(s.header, values, strict=True)]
        if draw(st.integers(0, 5)) == 0:  # sometimes one odd value from the pools
            at = draw(st.integers(0, len(values) - 1))
            values[at] = draw(pools.get(s.header[at], TEXT))
        return render(values, d, draw(st.sampled_from(["none", "all", "minimal"])))
    if kind == "blank":
        return draw(st.sampled_from(["", " ", "\t", "  \x0c", "\x1c"]))
    if kind == "wrong count":
        return render(values[:-1] if draw(st.booleans()) else values + ["x"], d, quoting)
    if kind == "stray quote":
        return '"q"z' + d + render(values[1:], d, quoting)
    if kind == "open quote":
        return '"open' + d + render(values[1:], d, quoting)
    if kind == "multi-line note":
        at = draw(st.integers(0, len(values) - 1))
        values[at] = draw(st.sampled_from(["a\nb", "a\n\nb", "x\n", "\n \n"]))
        return render(values, d, "minimal")
    if kind == "bad bytes":
        return render(values, d, quoting) + "\udcff"  # written as the byte 0xff
    if kind == "nul":
        values[0] += "\x00"
        return render(values, d, quoting)
    if kind == "bare cr":
        values[-1] += "\ra"
        return render(values, d, quoting)
    if kind == "huge":
        # over (or just within) max_line_bytes; with the 8 MiB default, a 300-byte line
        values[-1] = "h" * (min(s.max_line, 300) + draw(st.integers(-2, 2)))
        return render(values, d, quoting)
    if kind == "quoted delim":
        values[0] = f"a{d}b"
        return render(values, d, "minimal")
    if kind == "doubled quote":
        values[0] = 'a"b'
        return render(values, d, "all")
    if kind == "space quote":
        return " " + render(values, d, "all")
    return "\ufeff" + render(values, d, quoting)  # a BOM not at the file start


@st.composite
def files(draw: st.DrawFn) -> tuple[Setup, bytes]:
    extra = EXTRA[:draw(st.integers(0, 2))]
    header = tuple(draw(st.permutations(COLS + extra)))
    s = Setup(delimiter=draw(st.sampled_from([",", ";", "\t", "|", " "])), header=header,
              mapped=frozenset(c for c in ("dom", "stars", "ts") if draw(st.booleans())),
              min_rating=draw(st.sampled_from([None, 3.0])),
              ts_unit=draw(st.sampled_from(["auto", "auto", "s", "ms", "us", "iso"])),
              max_id=draw(st.sampled_from([64, 2048])),
              max_line=draw(st.sampled_from([90, 8 * 2**20])),
              rows_per_batch=draw(st.sampled_from([1, 3, 7, 1000])),
              block_lines=draw(st.sampled_from([1, 2, 5, 64])),
              block_bytes=draw(st.sampled_from([40, 300, 1 << 20])),
              min_run=draw(st.sampled_from([1, 2, 16])),
              store=draw(st.sampled_from(["plain", "plain", "gzip", "cut gzip"])),
              distinct_check=draw(st.sampled_from([0, 4096])))
    head = s.delimiter.join(f" {h}" if draw(st.integers(0, 5)) == 0 else h for h in header)
    if draw(st.integers(0, 4)) == 0:
        head = "\ufeff" + head
    lines = [head] + draw(st.lists(line(s), min_size=0, max_size=80))
    # a stretch of clean rows (runs at every block size) with other lines dropped into it
    good = render([{"uid": "u9", "iid": "i9", "dom": "book", "stars": "4", "ts": "1700000000"}
                   .get(h, "n") for h in header], s.delimiter, draw(QUOTING))
    stretch = [good] * draw(st.integers(1, 60))
    for _ in range(draw(st.integers(0, 6))):
        stretch.insert(draw(st.integers(0, len(stretch))), draw(line(s)))
    at = draw(st.integers(1, len(lines)))
    lines[at:at] = stretch
    if draw(st.integers(0, 5)) == 0:
        lines.insert(0, "")  # a blank line before the header
    ends = [draw(st.sampled_from(["\n", "\r\n"]))] * len(lines)  # the file's line end
    for at in draw(st.lists(st.integers(0, len(lines) - 1), max_size=3)):
        ends[at] = draw(st.sampled_from(["\n", "\r\n", "\r\r\n"]))  # a few odd ones
    text = "".join(a + b for a, b in zip(lines, ends, strict=True))
    if draw(st.booleans()):
        text = text.rstrip("\r\n")  # no line end at the end of the file
    data = text.encode("utf-8", errors="surrogateescape")
    if s.store != "plain":
        data = gzip.compress(data, mtime=0)
        if s.store == "cut gzip":
            data = data[:2 + draw(st.integers(0, 10**6)) % (len(data) - 2)]
    return s, data


@contextmanager
def knobs(s: Setup):
    """Tiny blocks and runs; counts the rows that landed column-wise."""
    saved = (fastcsv.BLOCK_LINES, fastcsv.BLOCK_BYTES, fastcsv.MIN_RUN, fastcsv.FastRun.split,
             fastcsv._DISTINCT_CHECK)
    split = fastcsv.FastRun.split

    def counted(self, i, j):
        slow, table, filtered = split(self, i, j)
        STATS["column-wise rows"] += 0 if table is None else table.num_rows
        STATS["column-wise filtered"] += filtered
        STATS["handed back"] += len(slow)
        return slow, table, filtered

    fastcsv.BLOCK_LINES, fastcsv.BLOCK_BYTES, fastcsv.MIN_RUN = (s.block_lines, s.block_bytes,
                                                                 s.min_run)
    fastcsv.FastRun.split = counted  # type: ignore[method-assign]
    fastcsv._DISTINCT_CHECK = s.distinct_check
    try:
        yield
    finally:
        (fastcsv.BLOCK_LINES, fastcsv.BLOCK_BYTES, fastcsv.MIN_RUN, fastcsv.FastRun.split,
         fastcsv._DISTINCT_CHECK) = saved  # type: ignore[method-assign]


def collect(s: Setup, path: Path, fast: bool) -> dict[str, Any]:
    names = {"dom": "domain", "stars": "rating", "ts": "event_ts"}
    columns = {"user_id": "uid", "item_id": "iid"} | {names[c]: c for c in s.mapped}
    cfg = CsvSource(path=str(path), columns=columns, delimiter=s.delimiter,
                    min_rating=s.min_rating if "stars" in s.mapped else None, ts_unit=s.ts_unit,
                    domain=None if "dom" in s.mapped else "fixed")
    q = MemoryQuarantine()
    log = RowLog(q)
    limits = Limits(max_line_bytes=s.max_line, max_id_chars=s.max_id)
    batches, error = [], None
    try:
        for batch in read(cfg, path, RUN_DATE, log, s.rows_per_batch, limits, fast_csv=fast):
            batches.append(batch)
    except InputDataError as exc:
        error = str(exc)
    q.close()
    t = log.files.get(str(path))
    return {"batches": [b.to_pydict() for b in batches], "error": error,
            "quarantine": [r for table in q.tables for r in table.to_pylist()],
            "tally": None if t is None else (t.yielded, dict(t.quarantined), dict(t.filtered),
                                             t.warnings, t.example)}


def same(a: dict, b: dict) -> None:
    for key in ("error", "tally", "quarantine"):
        assert a[key] == b[key], key
    assert len(a["batches"]) == len(b["batches"])
    for x, y in zip(a["batches"], b["batches"], strict=True):
        # rating: NaN never lands, so == is exact; compare float32 values as given
        assert x == y


STATS: Counter = Counter()


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    print(f"\n[fast csv] {dict(sorted(STATS.items()))}")
    if STATS["examples"] >= 400:  # the whole property test ran: the fast path was exercised
        assert STATS["column-wise rows"] > 3000 and STATS["handed back"] > 500


@prop(400)
@given(case=files())
def test_fast_and_line_by_line_readers_agree(case: tuple[Setup, bytes], folder: Path) -> None:
    s, data = case
    STATS["examples"] += 1
    STATS[f"{s.store} files"] += 1
    path = folder / "in.csv"
    path.write_bytes(data)
    with knobs(s):
        fast = collect(s, path, fast=True)
    slow = collect(s, path, fast=False)
    same(fast, slow)


@pytest.mark.parametrize("distinct_check", [0, 4096])
def test_fast_path_takes_runs_and_agrees_on_a_mixed_file(tmp_path: Path,
                                                         distinct_check: int) -> None:
    """A larger file, default knobs: most rows go column-wise, the rest line by line; the
    ratings checked by float32() per distinct value, or by the regex lane."""
    rng = np.random.default_rng(3)
    header = "uid,iid,dom,stars,ts,note\n"
    bad = ['"u","i","book",5,17,x\n', 'u,i,book,5_000,1700000000,x\n', 'u,i,Book,5,1,x\n',
           '"open,i,book,5,1700000000,x\n', 'u,i,book,5,0,x\n', '\n', 'u,i,book,nan,1,x\n',
           'u,,book,5,1700000000,x\n', 'u\x01,i,book,5,1700000000,x\n',
           'u,i,book,5,1700000000,"a\nb"\n', 'u,i,book,5,2024-01-01T00:00:00,x\n',
           'u,i,book,1e300,1700000000,x\n', 'u,i,book,3.4028236e38,1700000000,x\n',
           'u,i,book,-1e39,1700000000,x\n', 'u,i,book,3.4028234663852886e38,1700000000,x\n']
    lines = []
    for k in range(20_000):
        if rng.random() < 0.02:
            lines.append(bad[rng.integers(len(bad))])
        else:
            lines.append(f'"u{k % 97}","i{k % 13}","book",{k % 5 + 1},{1_700_000_000 + k},'
                         f'"n{k}"\r\n')
    path = tmp_path / "mixed.csv"
    path.write_text(header + "".join(lines))
    s = Setup(",", ("uid", "iid", "dom", "stars", "ts", "note"), frozenset(COLS[2:]), 3.0,
              "auto", 2048, 8 * 2**20, 4096, 65_536, 4 * 2**20, 16, "plain", distinct_check)
    with knobs(s):
        fast = collect(s, path, True)
    slow = collect(s, path, False)
    same(fast, slow)
    assert slow["tally"][0] > 10_000 and slow["quarantine"] and slow["tally"][2]
    assert slow["tally"][3]  # the odd event times warning


def test_a_gzip_cut_after_a_run_counts_the_rows_before_it_like_line_by_line(
        tmp_path: Path) -> None:
    """A run that ends in a blank line lets the line-by-line reader go on past it, into the
    broken end of a gzip stream: the run's rows are handed out before the error, so the
    rows counted for the failed file are the same."""
    head = b"uid,iid,ts\n" + b"u,i,1700000000\n" * 20 + b"\n"
    rng = np.random.default_rng(0)
    tail = b"".join(b"u%d,i,1700000000\n" % x for x in rng.integers(0, 10**12, 2000))
    whole = gzip.compress(head + tail, mtime=0)
    path = tmp_path / "cut.csv"
    s = Setup(",", ("uid", "iid", "ts"), frozenset({"ts"}), None, "auto", 2048, 8 * 2**20, 7,
              65_536, 4 * 2**20, 1, "cut gzip")

    def broken_after(cut: int) -> int:  # the line after which the stream breaks
        path.write_bytes(whole[:cut])
        try:
            for _ in raw_lines(path):
                pass
        except InputDataError as exc:
            return int(str(exc).split("after line ")[1].split()[0])
        return 10**9

    lo, hi = 20, len(whole) - 1  # the shortest cut that reads past line 21 (it only grows)
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if broken_after(mid) < 22 else (lo, mid)
    assert broken_after(lo) == 22, "no cut breaks the stream right after the blank line"
    slow = collect(s, path, fast=False)
    with knobs(s):
        fast = collect(s, path, fast=True)
    same(fast, slow)
    assert slow["tally"][0] == 14  # two full batches of 7 before the failure


# --- known answers for the column-wise checks ----------------------------------------------

def python_number(text: str) -> float | None:
    """What the row parser's float32() makes of a rating text (None: refused)."""
    try:
        return float32(text, "r")
    except FieldError:
        return None


@pytest.mark.parametrize("text,value", [
    ("5", 5.0), ("+5", 5.0), ("5.", 5.0), (".5", 0.5), ("-.5", -0.5), ("1E+05", 1e5),
    ("0005", 5.0), ("-0", -0.0), ("0.1", 0.1), ("3.4028234663852886e38", 3.4028234663852886e38),
    ("5_000", None), (" 5", None), ("5 ", None), ("nan", None), ("inf", None), ("1e400", None),
    ("0x1", None), ("٣", None), ("1e", None), (".", None), ("", None), ("e5", None)])
def test_numbers_reads_what_it_accepts_like_python(text: str, value: float | None) -> None:
    x, good = fastcsv._numbers(pa.array([text]))
    assert bool(good[0]) == (value is not None)
    if value is not None:
        assert x[0] == value and math.copysign(1, x[0]) == math.copysign(1, value)


@prop(300)
@given(text=st.from_regex(fastcsv.NUMBER, fullmatch=True) | st.floats().map(repr)
       | st.text("0123456789.eE+-_ ", max_size=12))
def test_numbers_never_accepts_what_python_refuses_and_agrees_on_values(text: str) -> None:
    x, good = fastcsv._numbers(pa.array([text]))
    try:
        want = float(text) if "_" not in text and text.isascii() else None
    except ValueError:
        want = None
    if good[0]:
        assert want is not None and math.isfinite(want) and x[0] == want
    elif want is not None and math.isfinite(want):  # refused only in a form outside the regex
        assert not __import__("re").fullmatch(fastcsv.NUMBER, text)


@pytest.mark.parametrize("raw,clean", [
    ("plain,row,ok", True), ('"q","r","s"', True), ('"","",""', True), ("a,b,c\r", True),
    ("a,b", False), ("a,b,c,d", False), ("", False), ("\r", False), ("a,b,c\r\r", False),
    ('"a,b",c,d', False), ('"a""b",c,d', False), ('x"y,c,d', False), ('"a"b,c,d', False),
    (' "a",b,c', False), ("a\x00,b,c", False), ("a\rb,c,d", False), ('"a\rb",c,d', False)])
def test_line_classification(raw: str, clean: bool) -> None:
    lines = [raw.encode() + b"\n"]
    starts = np.array([0, len(lines[0])])
    flags, stops = fastcsv._classify(b"".join(lines), starts, ord(","), 3, "utf-8")
    assert bool(flags[0]) is clean
    if not clean:  # a line with a quote it cannot read goes line by line, run or not
        assert (0 in stops.tolist()) == ('"' in raw)


def test_undecodable_lines_are_structural() -> None:
    buf = b"a,b,c\n\xff,b,c\n"
    flags, stops = fastcsv._classify(buf, np.array([0, 6, len(buf)]), ord(","), 3, "utf-8")
    assert flags.tolist() == [True, False] and stops.tolist() == [1, 2]


@prop(200)
@given(domain=st.text(max_size=8), local=st.text(max_size=8))
def test_item_keys_agrees_with_item_key(domain: str, local: str) -> None:
    try:
        domain.encode(), local.encode()
    except UnicodeEncodeError:
        return  # Arrow strings are UTF-8: a lone surrogate cannot reach it
    got = item_keys(pa.array([domain]), pa.array([local])).to_pylist()
    assert got == [item_key(domain, local)]
    assert item_keys(pa.scalar(domain), pa.array([local])).to_pylist() == got


def test_eligible_sources() -> None:
    assert fastcsv.eligible("utf-8", ",") and fastcsv.eligible("UTF8", "\t")
    assert not fastcsv.eligible("latin-1", ",") and not fastcsv.eligible("utf-8", "§")
    assert not fastcsv.eligible("utf-8", '"')
