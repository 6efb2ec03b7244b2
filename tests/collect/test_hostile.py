"""Hostile input to the collectors (issue 24): nothing merged, nothing lost, bounded memory, the
last good state kept. Each test names the defect it pins; every one failed before its fix.

The readers run on real files (plain and gzipped) and write a real Parquet quarantine; the
collector tests run ``collect`` on a real data folder.
"""

from __future__ import annotations

import gzip
import json
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossrec.collect.amazon import read_metadata, read_reviews
from crossrec.collect.collector import collect
from crossrec.collect.fields import F32_MAX
from crossrec.collect.generic import read
from crossrec.collect.rows import Limits, QuarantineLog, RowLog
from crossrec.collect.sources import AmazonSource, CsvSource, JsonlSource
from crossrec.config import Settings, load_settings
from crossrec.errors import ConfigError, InputDataError
from tests.conftest import RUN_DATE

MAP = {"user_id": "uid", "item_id": "iid", "domain": "dom", "rating": "stars", "event_ts": "ts"}
HEADER = "uid,iid,dom,stars,ts"
LIMITS = Limits()


def fuzz(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


def run(cfg, path: Path, limits: Limits = LIMITS) -> tuple[list[dict], list[dict], object]:
    """Landed rows, the quarantine (read back from Parquet) and the file's tally."""
    qlog = QuarantineLog(path.with_name(path.name + ".q.parquet"))
    log = RowLog(qlog)
    batches = list(read(cfg, path, RUN_DATE, log, 7, limits))
    out = qlog.close()
    rows = pa.Table.from_batches(batches).to_pylist() if batches else []
    bad = pq.read_table(out).to_pylist() if out else []
    tally = log.files[str(path)]
    assert tally.read == len(rows) + len(bad) + sum(tally.filtered.values())
    return rows, bad, tally


def csv_src(path: Path, **kw) -> CsvSource:
    return CsvSource(path=str(path), columns=MAP, **kw)


def jsonl_src(path: Path, **kw) -> JsonlSource:
    return JsonlSource(path=str(path), columns=MAP, **kw)


def good_line(i: int) -> str:
    return f"u{i},i{i},sport,{1 + i % 5},{1_700_000_000 + i}"


def write(path: Path, lines: list[str], zipped: bool = False) -> Path:
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data, mtime=0) if zipped else data)
    return path


def landed_lines(rows: list[dict]) -> dict[int, str]:
    return {r["line"]: r["user_id"] for r in rows}


# --- 1. a stray or unterminated quote never merges rows ------------------------------------

# what a broken line looks like, by the column its quote opens in (0 uid, 1 iid, 3 stars)
OPENERS = {
    "uid": lambda i: f'"u{i},i{i},sport,5,1',
    "iid": lambda i: f'u{i},"i{i},sport,5,1',
    "stars": lambda i: f'u{i},i{i},sport,"5,1',
}


@fuzz(120)
@given(n=st.integers(3, 60), data=st.data(), zipped=st.booleans(),
       column=st.sampled_from(sorted(OPENERS)))
def test_an_open_quote_quarantines_its_own_line_and_every_other_line_lands(
        n: int, data: st.DataObject, zipped: bool, column: str, folder: Path) -> None:
    """Defect 1: one or more lines open a quote that never closes (or closes on a later
    stray quote): each is quarantined as ``unclosed quote`` at its own line number, every
    other line lands with its own values, and no id holds a line break."""
    broken = data.draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=3))
    closer = data.draw(st.booleans())  # a later line has a stray closing quote in that column
    lines = [HEADER]
    closers = set()
    for i in range(n):
        if i in broken:
            lines.append(OPENERS[column](i))
        elif closer and i > min(broken) and not closers:
            lines.append(good_line(i).replace(f"i{i},", f'i{i}",'))  # iid ends in a stray quote
            closers.add(i)
        else:
            lines.append(good_line(i))
    path = write(folder / ("q.csv.gz" if zipped else "q.csv"), lines, zipped)
    rows, bad, tally = run(csv_src(path), path)
    assert sorted((b["line"], b["reason"]) for b in bad) == \
        [(i + 2, "unclosed quote") for i in sorted(broken)]
    assert all(b["raw"] == lines[b["line"] - 1] for b in bad)  # each keeps its own line
    want = {i + 2: f"u{i}" for i in range(n) if i not in broken}
    assert landed_lines(rows) == want  # every other physical line landed, under its number
    for r in rows:
        assert "\n" not in r["user_id"] + r["item_id"]
        i = int(r["user_id"][1:])
        assert r["item_id"] == (f'sport:i{i}"' if i in closers else f"sport:i{i}")
    assert tally.read == n


def test_a_quoted_line_break_lands_only_in_an_unmapped_column_and_keeps_blank_lines(
        tmp_path: Path) -> None:
    """Defect 1 and 13: a note column may hold quoted line breaks, blank lines included (the
    blank line is part of the record, not dropped); the record lands under its first line and
    the lines after it keep their numbers. A mapped column with a line break is an
    ``unclosed quote``; so is a quote that runs past ``max_record_lines``."""
    path = tmp_path / "notes.csv"
    path.write_text(f"{HEADER},note\n"
                    f'{good_line(0)},"first\n\nthird"\n'  # lines 2-4: one record
                    f"{good_line(1)},plain\n"  # line 5
                    f'{good_line(2)},"a\nb\nc\nd"\n'  # lines 6-9: over max_record_lines=3
                    f"u3,i3,sport,oops,1,\"bad\n\nrating\"\n"  # lines 10-12: quarantined whole
                    f"{good_line(4)},\n")  # line 13
    rows, bad, _ = run(csv_src(path), path, Limits(max_record_lines=3))
    assert landed_lines(rows) == {2: "u0", 5: "u1", 13: "u4"}
    got = sorted((b["line"], b["reason"]) for b in bad)
    # line 6 opens a quote the limit cuts; 7, 8 are re-read on their own (one field each),
    # 9 ('d",' ...) too; line 10's record is whole but its rating is not a number
    assert got == [(6, "unclosed quote"), (7, "wrong field count"), (8, "wrong field count"),
                   (9, "wrong field count"), (10, "not a number")]
    rating = next(b for b in bad if b["line"] == 10)
    assert rating["raw"] == 'u3,i3,sport,oops,1,"bad\n\nrating"'  # the blank line is kept


def test_an_unclosed_quote_reaches_the_collector_summary_not_the_marts(tmp_path: Path) -> None:
    """Defect 1 end to end (the review's case): an unterminated quote on line 51 of 3,001
    gives 2,999 landed rows and one quarantined line, not 49 landed."""
    lines = [HEADER] + [good_line(i) for i in range(3000)]
    lines[50] = OPENERS["iid"](49)
    path = write(tmp_path / "in.csv", lines)
    s = Settings.model_validate({"data_dir": str(tmp_path / "data"), "sources": [
        {"kind": "csv", "path": str(path), "columns": MAP, "ts_unit": "s"}]})
    summary = collect(s, RUN_DATE)
    f = summary["sources"]["csv-0"]["files"][str(path)]
    assert (f["read"], f["landed"], f["quarantined"]) == (3000, 2999, {"unclosed quote": 1})
    assert f["example"]["line"] == 51


# --- 2. line length and gzip expansion are bounded ------------------------------------------

@fuzz(60)
@given(lengths=st.lists(st.integers(1, 1100), min_size=1, max_size=12), zipped=st.booleans())
def test_a_line_over_max_line_bytes_is_quarantined_with_its_number(
        lengths: list[int], zipped: bool, folder: Path) -> None:
    """Defect 2: a line over the limit (1,024 bytes here) is ``line too long`` at its own
    line; the lines around it are read as usual."""
    lines = ["uid,iid,dom,stars,ts,pad"]
    for i, n in enumerate(lengths):
        base = good_line(i) + ","
        lines.append(base + "p" * max(0, n - len(base)))
    path = write(folder / ("long.csv.gz" if zipped else "long.csv"), lines, zipped)
    rows, bad, tally = run(csv_src(path), path, Limits(max_line_bytes=1024))
    too_long = {i + 2 for i, line in enumerate(lines[1:]) if len(line) > 1024}
    assert {b["line"] for b in bad} == too_long
    assert all(b["reason"] == "line too long" for b in bad)
    assert set(landed_lines(rows)) == {i + 2 for i in range(len(lengths))} - too_long


def gzip_of_x(path: Path, megabytes: int, tail: bytes = b"") -> Path:
    """A gzip of ``megabytes`` MiB of 'x' without a newline (compresses ~1000:1)."""
    with gzip.open(path, "wb", compresslevel=9) as fh:
        fh.write(b"uid,iid,dom,stars,ts\n")
        block = b"x" * 2**20
        for _ in range(megabytes):
            fh.write(block)
        fh.write(b",i,sport,5,1\n" + tail)
    return path


def test_a_huge_line_is_skipped_in_bounded_memory(tmp_path: Path) -> None:
    """Defect 2: a 64 MiB line is skipped without being held (peak Python memory stays a
    small multiple of max_line_bytes), and the line after it lands."""
    path = gzip_of_x(tmp_path / "huge.csv.gz", 64, tail=(good_line(1) + "\n").encode())
    tracemalloc.start()
    try:
        rows, bad, _ = run(csv_src(path), path, Limits(max_line_bytes=2**20,
                                                       max_gzip_ratio=1e9))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [(b["line"], b["reason"]) for b in bad] == [(2, "line too long")]
    assert "67,108,876 bytes" in bad[0]["detail"]
    assert landed_lines(rows) == {3: "u1"}
    assert peak < 12 * 2**20, peak


def test_a_gzip_bomb_fails_naming_the_file(tmp_path: Path) -> None:
    """Defect 2: a gzip that expands more than max_gzip_ratio times fails clearly."""
    path = gzip_of_x(tmp_path / "bomb.csv.gz", 40)
    with pytest.raises(InputDataError, match="decompression bomb") as err:
        run(csv_src(path), path)
    assert str(path) in str(err.value) and "max_gzip_ratio" in str(err.value)


def test_collect_limits_come_from_the_config(tmp_path: Path) -> None:
    """The [collect] keys reach the readers (here max_line_bytes and max_id_chars)."""
    path = write(tmp_path / "in.csv", [HEADER, good_line(0), good_line(1) + "9" * 2000,
                                       f"{'u' * 40},i,sport,5,1"])
    s = Settings.model_validate({
        "data_dir": str(tmp_path / "data"),
        "collect": {"max_line_bytes": 1024, "max_id_chars": 32, "max_bad_ratio": 1.0},
        "sources": [{"kind": "csv", "path": str(path), "columns": MAP, "ts_unit": "s"}]})
    f = collect(s, RUN_DATE)["sources"]["csv-0"]["files"][str(path)]
    assert f["quarantined"] == {"line too long": 1, "id too long": 1}


# --- 3. the Amazon reader and broken Unicode escapes ----------------------------------------

SURROGATES = st.integers(0xD800, 0xDFFF).map(lambda c: f"\\u{c:04x}")


@fuzz(60)
@given(bad=SURROGATES, key=st.sampled_from(["reviewerID", "asin"]), at=st.integers(0, 4))
def test_amazon_review_with_a_broken_escape_is_quarantined(bad: str, key: str, at: int,
                                                           folder: Path) -> None:
    """Defect 3: a lone surrogate from a ``\\uD8xx`` escape in an id is ``bad encoding`` at
    its file and line; the other lines land (the batch writer never sees it)."""
    lines = [json.dumps({"reviewerID": f"U{i}", "asin": f"B{i}", "overall": 5.0,
                         "unixReviewTime": 1_400_000_000}) for i in range(5)]
    lines[at] = lines[at].replace(f'"{key}": "', f'"{key}": "x{bad}', 1)
    path = write(folder / "Books.json", lines)
    qlog = QuarantineLog(folder / "amazon-q.parquet")
    log = RowLog(qlog)
    batches = list(read_reviews(AmazonSource(path=str(path)), path, "books", RUN_DATE, log, 2))
    out = qlog.close()
    q = pq.read_table(out).to_pylist()
    assert [(b["file"], b["line"], b["column"], b["reason"]) for b in q] == \
        [(str(path), at + 1, key, "bad encoding")]
    assert sorted(r["line"] for b in batches for r in b.to_pylist()) == \
        [i + 1 for i in range(5) if i != at]


@fuzz(40)
@given(bad=SURROGATES, key=st.sampled_from(["title", "brand", "category"]))
def test_amazon_metadata_with_a_broken_escape_is_quarantined(bad: str, key: str,
                                                             folder: Path) -> None:
    """Defect 3: a lone surrogate in a title, brand or category quarantines the line as
    ``bad encoding`` instead of crashing the metadata batch."""
    good = {"asin": "B1", "title": "ok", "brand": "acme", "category": ["Books", "Kids"]}
    broken = {"asin": "B2", "title": "ok", "brand": "acme", "category": ["Books", "Kids"]}
    broken[key] = [f"Books{bad}"] if key == "category" else f"t{bad}"
    text = json.dumps(broken).replace("\\\\u", "\\u")  # the raw escape, as the file has it
    path = write(folder / "meta_Books.json", [json.dumps(good), text])
    qlog = QuarantineLog(folder / "meta-q.parquet")
    log = RowLog(qlog)
    batches = list(read_metadata(path, "books", log, 10))
    q = pq.read_table(qlog.close()).to_pylist()
    column = "categories" if key == "category" else key
    assert [(b["line"], b["column"], b["reason"]) for b in q] == [(2, column, "bad encoding")]
    assert [r["item_id"] for b in batches for r in b.to_pylist()] == ["books:B1"]


# --- 5 and 9. a failed collection keeps the last good state ---------------------------------

def settings_for(tmp_path: Path, path: Path) -> Settings:
    return Settings.model_validate({"data_dir": str(tmp_path / "data"), "sources": [
        {"kind": "csv", "path": str(path), "columns": MAP, "ts_unit": "s"}]})


def partition(tmp_path: Path, what: str) -> Path:
    return tmp_path / "data" / what / f"ingest_date={RUN_DATE}"


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.95])
def test_a_truncated_gzip_fails_collection_and_keeps_the_previous_state(
        tmp_path: Path, cut: float) -> None:
    """Defect 5 and 9: a cut gzip fails the run naming the file (it used to be one bad row
    of thousands, so max_bad_ratio never tripped); the previous landing partition and the
    previous run's quarantine file are left exactly as they were."""
    lines = [HEADER] + [f"u{i},{i * 7919 % 10007},sport,5,{1_700_000_000 + i}"
                        for i in range(5000)] + ["u,i,sport,oops,1"]
    path = write(tmp_path / "in.csv.gz", lines, zipped=True)
    s = settings_for(tmp_path, path)
    collect(s, RUN_DATE)
    land = partition(tmp_path, "landing") / "interactions" / "csv-0.parquet"
    quar = partition(tmp_path, "quarantine") / "csv-0.parquet"
    before = land.read_bytes(), quar.read_bytes()

    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(InputDataError, match="truncated or corrupt") as err:
        collect(s, RUN_DATE)
    assert str(path) in str(err.value)
    assert (land.read_bytes(), quar.read_bytes()) == before


def test_a_failed_collection_keeps_the_previous_quarantine(tmp_path: Path) -> None:
    """Defect 9: a run over the bad-row budget used to replace the good run's quarantine,
    and one failing with nothing quarantined deleted it."""
    path = write(tmp_path / "in.csv", [HEADER] + [good_line(i) for i in range(40)]
                 + ["u,i,sport,oops,1"])
    s = settings_for(tmp_path, path)
    collect(s, RUN_DATE)
    quar = partition(tmp_path, "quarantine") / "csv-0.parquet"
    before = quar.read_bytes()
    write(path, [HEADER] + [good_line(i) for i in range(4)] + ["u,i,sport,oops,1"] * 4)
    with pytest.raises(InputDataError, match="max_bad_ratio"):
        collect(s, RUN_DATE)
    assert quar.read_bytes() == before
    write(path, ["user,item", "u,i"])  # a whole-file error: nothing quarantined at all
    with pytest.raises(InputDataError, match="not in the file"):
        collect(s, RUN_DATE)
    assert quar.read_bytes() == before


# --- 6. ratings: float32 overflow and digit underscores -------------------------------------

BEYOND_F32 = st.floats(min_value=F32_MAX * 1.0000001, max_value=1e308) \
    | st.floats(min_value=-1e308, max_value=-F32_MAX * 1.0000001)
UNDERSCORED = st.builds(lambda a, b: f"{a}_{b}", st.integers(1, 999), st.integers(0, 999))


@fuzz(80)
@given(value=BEYOND_F32.map(repr) | UNDERSCORED | st.sampled_from(["1e300", "-1e39", "5_000"]),
       fmt=st.sampled_from(["csv", "jsonl", "jsonl-number"]))
def test_a_rating_float32_cannot_hold_or_with_underscores_is_not_a_number(
        value: str, fmt: str, folder: Path) -> None:
    """Defect 6: 1e300 used to land as +inf, -1e39 as -inf and "5_000" as 5000."""
    if fmt == "csv":
        path = write(folder / "r.csv", [HEADER, good_line(0), f"u1,i1,sport,{value},1"])
        cfg = csv_src(path)
    else:
        rating = json.loads(value) if fmt == "jsonl-number" and "_" not in value else value
        rows_ = [{"uid": "u0", "iid": "i0", "dom": "sport", "stars": 4, "ts": 1},
                 {"uid": "u1", "iid": "i1", "dom": "sport", "stars": rating, "ts": 1}]
        path = write(folder / "r.jsonl", [json.dumps(r) for r in rows_])
        cfg = jsonl_src(path)
    rows, bad, _ = run(cfg, path)
    assert [r["user_id"] for r in rows] == ["u0"]
    assert [(b["column"], b["reason"]) for b in bad] == [("stars", "not a number")]


@pytest.mark.parametrize("value", ["1e300", "-1e39", "5_000", 1e300])
def test_amazon_rating_beyond_float32_or_underscored_is_quarantined(tmp_path: Path,
                                                                    value: object) -> None:
    path = write(tmp_path / "Books.json", [json.dumps(
        {"reviewerID": "U", "asin": "B", "overall": value, "unixReviewTime": 1})])
    qlog = QuarantineLog(tmp_path / "q.parquet")
    batches = list(read_reviews(AmazonSource(path=str(path)), path, "books", RUN_DATE,
                                RowLog(qlog), 10))
    assert batches == []
    assert [b["reason"] for b in pq.read_table(qlog.close()).to_pylist()] == ["not a number"]


# --- 13. the smaller ones --------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_utf8_byte_order_mark_is_stripped(tmp_path: Path, fmt: str) -> None:
    if fmt == "csv":
        path = write(tmp_path / "bom.csv", [HEADER, good_line(0)])
        cfg = csv_src(path)
    else:
        path = write(tmp_path / "bom.jsonl", [json.dumps(
            {"uid": "u0", "iid": "i0", "dom": "sport", "stars": 4, "ts": 1})])
        cfg = jsonl_src(path)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    rows, bad, _ = run(cfg, path)
    assert [r["user_id"] for r in rows] == ["u0"] and bad == []


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "utf-16-le", "cp037", "utf-7"])
def test_an_encoding_that_cannot_work_is_refused_at_config_time(tmp_path: Path,
                                                                encoding: str) -> None:
    """Lines are split on the newline byte before decoding: utf-16 used to be accepted and
    then quarantine every line."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[[sources]]\nkind = "csv"\npath = "x.csv"\ndomain = "book"\n'
                   f'encoding = "{encoding}"\n')
    with pytest.raises(ConfigError, match="encoding") as err:
        load_settings(cfg)
    assert "not ASCII-compatible" in str(err.value) and str(cfg) in str(err.value)
    assert CsvSource(path="x", domain="book", encoding="latin-1").encoding == "latin-1"


CONTROL = st.sampled_from(["\x00", "\x01", "\t", "\x1b", "\x7f", "\x85", "\u2028", "\u2029",
                           "\r", "\x9f"])


@fuzz(80)
@given(ctrl=CONTROL, where=st.sampled_from(["uid", "iid"]), fmt=st.sampled_from(["csv", "jsonl"]),
       at=st.integers(0, 3))
def test_control_characters_in_ids_are_quarantined(ctrl: str, where: str, fmt: str, at: int,
                                                   folder: Path) -> None:
    """NUL, other control characters and line/paragraph separators used to land inside ids."""
    value = f"a{ctrl * (1 + at)}b"
    rec = {"uid": "u1", "iid": "i1", "dom": "sport", "stars": 4, "ts": 1, where: value}
    if fmt == "csv":
        field = f'"{value}"'
        cells = [field if c == where else str(rec[c]) for c in MAP.values()]
        path = folder / "ctl.csv"
        path.write_bytes(f"{HEADER}\n{good_line(0)}\n{','.join(cells)}\n".encode())
        cfg = csv_src(path)
    else:
        path = write(folder / "ctl.jsonl", [json.dumps({"uid": "u0", "iid": "i0", "dom": "sport",
                                                        "stars": 4, "ts": 1}), json.dumps(rec)])
        cfg = jsonl_src(path)
    rows, bad, _ = run(cfg, path)
    assert [r["user_id"] for r in rows] == ["u0"]
    assert [(b["line"], b["column"], b["reason"]) for b in bad] == \
        [(3 if fmt == "csv" else 2, where, "control character")]


@fuzz(40)
@given(extra=st.integers(-3, 3), limit=st.sampled_from([8, 64, 2048]))
def test_ids_over_max_id_chars_are_quarantined(extra: int, limit: int, folder: Path) -> None:
    n = limit + extra
    path = write(folder / "long-id.jsonl", [json.dumps(
        {"uid": "u" * n, "iid": "i0", "dom": "sport", "stars": 4, "ts": 1})])
    rows, bad, _ = run(jsonl_src(path), path, Limits(max_id_chars=limit))
    if n <= limit:
        assert len(rows) == 1 and bad == []
    else:
        assert rows == [] and [(b["column"], b["reason"]) for b in bad] == [("uid", "id too long")]


def test_a_10mb_id_from_jsonl_is_quarantined(tmp_path: Path) -> None:
    """The review's case: a 10 MB id is over max_line_bytes already (8 MiB); a 100 kB one is
    over max_id_chars."""
    path = write(tmp_path / "big.jsonl", [
        json.dumps({"uid": "u" * n, "iid": "i0", "dom": "sport", "stars": 4, "ts": 1})
        for n in (10 * 10**6, 100_000, 3)])
    rows, bad, _ = run(jsonl_src(path), path)
    assert [(b["line"], b["reason"]) for b in bad] == [(1, "line too long"), (2, "id too long")]
    assert [r["line"] for r in rows] == [3]


@pytest.mark.parametrize("ts", ["9999-12-31T00:00:00Z", "1900-01-01T00:00:00Z", "0",
                                "253402214400000"])
def test_implausible_event_times_land_with_a_warning(tmp_path: Path, ts: str) -> None:
    """Years 9999 and 1900 (and the epoch itself, a common placeholder) are valid times, so
    they land, but the file's summary warns about them, naming the first line."""
    path = write(tmp_path / "t.csv", [HEADER, good_line(0), f"u1,i1,sport,5,{ts}"])
    rows, bad, tally = run(csv_src(path), path)
    assert len(rows) == 2 and bad == []
    (warning,) = tally.warnings
    assert "1 row(s) have an event time" in warning and "line 3" in warning
    plain = write(tmp_path / "ok.csv", [HEADER, good_line(0)])
    assert run(csv_src(plain), plain)[2].warnings == []
