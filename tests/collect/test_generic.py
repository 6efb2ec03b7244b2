"""Generic CSV / JSONL / Parquet readers: known answers and every kind of bad input."""

import gzip
import json
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crossrec.collect.generic import read
from crossrec.collect.rows import QuarantineLog, RowLog
from crossrec.collect.sources import CsvSource, JsonlSource, ParquetSource
from crossrec.errors import InputDataError
from tests.conftest import RUN_DATE

MAP = {"user_id": "uid", "item_id": "iid", "domain": "dom", "rating": "stars", "event_ts": "ts"}


def read_all(cfg, path, tmp_path):
    """Rows, the quarantine as dicts, and the file's tally."""
    qlog = QuarantineLog(tmp_path / "q.parquet")
    log = RowLog(qlog)
    batches = list(read(cfg, path, RUN_DATE, log, 2))  # tiny batches: exercise batching
    qlog.close()
    rows = pa.Table.from_batches(batches).to_pylist() if batches else []
    bad = pq.read_table(qlog.path).to_pylist() if qlog.rows else []
    return rows, bad, log.files[str(path)]


def csv_cfg(path, **kw):
    return CsvSource(path=str(path), columns=MAP, **kw)


def test_csv_known_answer(tmp_path):
    f = tmp_path / "in.csv"
    f.write_text("uid,iid,dom,stars,ts\n"
                 "u1, 10 ,sport,5,1700000000\n"
                 "u1,10,cloth,4.5,2023-11-14T22:13:20Z\n"
                 "u2,11,cloth,2,1700000000000\n")
    rows, bad, tally = read_all(csv_cfg(f), f, tmp_path)
    t = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert [(r["user_id"], r["item_id"], r["domain"], r["event_ts"], r["rating"], r["line"])
            for r in rows] == [("u1", "sport:10", "sport", t, 5.0, 2),
                               ("u1", "cloth:10", "cloth", t, 4.5, 3),  # unique across domains
                               ("u2", "cloth:11", "cloth", t, 2.0, 4)]  # ms epoch detected
    assert bad == [] and tally.read == 3
    assert {r["source"] for r in rows} == {"csv"} and {r["file"] for r in rows} == {str(f)}


def test_min_rating_binarises_and_counts_filtered(tmp_path):
    f = tmp_path / "in.csv"
    f.write_text("uid,iid,dom,stars,ts\nu1,1,sport,5,1\nu1,2,sport,3,1\nu1,3,sport,4,1\n")
    rows, bad, tally = read_all(csv_cfg(f, min_rating=4), f, tmp_path)
    assert [r["item_id"] for r in rows] == ["sport:1", "sport:3"]
    assert tally.filtered == {"below min_rating": 1} and tally.read == 3 and not bad


def test_fixed_domain_and_default_timestamp(tmp_path):
    f = tmp_path / "in.csv"
    f.write_text("user,item\na,1\n")
    cfg = CsvSource(path=str(f), domain="book", columns={"user_id": "user", "item_id": "item"})
    rows, _, _ = read_all(cfg, f, tmp_path)
    assert rows[0]["item_id"] == "book:1" and rows[0]["domain"] == "book"
    assert rows[0]["event_ts"] == datetime(2026, 11, 22, tzinfo=UTC)


def test_csv_bad_rows_are_quarantined_with_line_column_and_reason(tmp_path):
    f = tmp_path / "in.csv"
    f.write_bytes(b"uid,iid,dom,stars,ts\n"
                  b"u1,1,sport,5,1\n"
                  b"u2,2,sport,five,1\n"       # 3: non-numeric rating
                  b",3,sport,5,1\n"            # 4: empty user
                  b"u4,4,sport\n"              # 5: wrong field count
                  b"u5,5,Sp ort!,5,1\n"        # 6: domain not a valid name
                  b"u6,6,sport,5,yesterday\n"  # 7: bad timestamp
                  b"u7,7,cloth,4,1\n"
                  b"u\xe9,8,sport,5,1\n")      # 9: latin-1 byte in a utf-8 file
    rows, bad, tally = read_all(csv_cfg(f), f, tmp_path)
    assert [r["user_id"] for r in rows] == ["u1", "u7"]
    got = {(b["line"], b["column"], b["reason"]) for b in bad}
    assert got == {(3, "stars", "not a number"), (4, "uid", "empty value"),
                   (5, None, "wrong field count"), (6, "dom", "bad domain"),
                   (7, "ts", "bad timestamp"), (9, None, "bad encoding")}
    assert all(b["file"] == str(f) and b["raw"] for b in bad)
    assert tally.read == 8 == len(rows) + len(bad)


def test_unknown_column_in_mapping_names_file_and_column(tmp_path):
    f = tmp_path / "in.csv"
    f.write_text("user,item,dom\na,1,sport\n")
    with pytest.raises(InputDataError, match=r"in\.csv.*'uid'.*it has: user, item, dom"):
        list(read(csv_cfg(f), f, RUN_DATE, RowLog(QuarantineLog(tmp_path / "q")), 10))


def test_truncated_gzip_is_an_error_naming_the_file(tmp_path):
    """A cut gzip is not "one bad row" (that could never trip max_bad_ratio): the file fails."""
    body = "uid,iid,dom,stars,ts\n" + "".join(f"u{i},{i},sport,5,1\n" for i in range(2000))
    data = gzip.compress(body.encode())
    f = tmp_path / "in.csv.gz"
    f.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(InputDataError, match="gzip stream is truncated or corrupt after line") \
            as err:
        read_all(csv_cfg(f), f, tmp_path)
    assert str(f) in str(err.value)


def test_empty_file_lands_nothing_and_says_so(tmp_path):
    f = tmp_path / "in.csv"
    f.write_text("")
    rows, bad, tally = read_all(csv_cfg(f), f, tmp_path)
    assert rows == [] and bad == [] and tally.read == 0 and tally.warnings == ["empty file"]


def test_wrong_format_is_a_clear_error(tmp_path):
    pq_file = tmp_path / "in.parquet"
    pq.write_table(pa.table({"uid": ["a"]}), pq_file)
    log = RowLog(QuarantineLog(tmp_path / "q"))
    with pytest.raises(InputDataError, match="is a Parquet file, not CSV"):
        list(read(csv_cfg(pq_file), pq_file, RUN_DATE, log, 10))
    txt = tmp_path / "in.txt"
    txt.write_text("uid,iid\n")
    with pytest.raises(InputDataError, match="not a readable Parquet file"):
        list(read(ParquetSource(path=str(txt), columns=MAP), txt, RUN_DATE, log, 10))


def test_jsonl_known_answer_and_bad_lines(tmp_path):
    f = tmp_path / "in.jsonl"
    lines = [json.dumps({"uid": "a", "iid": 1, "dom": "sport", "stars": 4, "ts": 10}),
             "{not json",
             json.dumps([1, 2]),
             json.dumps({"iid": 2, "dom": "sport", "stars": 4, "ts": 10}),
             json.dumps({"uid": "b", "iid": 2, "dom": "cloth", "stars": None, "ts": 10,
                         "extra": "ignored"})]
    f.write_text("\n".join(lines) + "\n")
    rows, bad, tally = read_all(JsonlSource(path=str(f), columns=MAP), f, tmp_path)
    assert [(r["user_id"], r["item_id"], r["rating"]) for r in rows] == [
        ("a", "sport:1", 4.0), ("b", "cloth:2", None)]
    assert {(b["line"], b["column"], b["reason"]) for b in bad} == {
        (2, None, "invalid json"), (3, None, "not an object"), (4, "uid", "missing field")}
    assert tally.read == 5


def test_parquet_known_answer_with_typed_columns(tmp_path):
    f = tmp_path / "in.parquet"
    t = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    pq.write_table(pa.table({"uid": ["a", None, "c"], "iid": [1, 2, 3],
                             "dom": ["sport", "sport", "cloth"], "stars": [5.0, 4.0, None],
                             "ts": pa.array([t, t, t], pa.timestamp("us", tz="UTC")),
                             "other": [1, 2, 3]}), f)
    rows, bad, tally = read_all(ParquetSource(path=str(f), columns=MAP), f, tmp_path)
    assert [(r["user_id"], r["item_id"], r["event_ts"], r["line"]) for r in rows] == [
        ("a", "sport:1", t, 1), ("c", "cloth:3", t, 3)]
    assert [(b["line"], b["column"], b["reason"]) for b in bad] == [(2, "uid", "missing value")]
    assert tally.read == 3


def test_config_needs_exactly_one_domain_source():
    with pytest.raises(ValueError, match="exactly one"):
        CsvSource(path="x.csv")
    with pytest.raises(ValueError, match="exactly one"):
        CsvSource(path="x.csv", domain="book", columns={"domain": "d"})
    with pytest.raises(ValueError, match="needs 'columns.rating'"):
        CsvSource(path="x.csv", domain="book", min_rating=4)


def test_hostile_jsonl_values_are_quarantined_not_crashes(tmp_path):
    """Found by the fuzz test (test_fuzz_generic): each of these crashed the whole read."""
    f = tmp_path / "in.jsonl"
    good = {"uid": "a", "iid": 1, "dom": "sport", "stars": 4, "ts": 10}
    f.write_text("\n".join([
        json.dumps(good | {"dom": [1]}),  # unhashable domain: was a TypeError
        json.dumps(good | {"uid": "\ud800"}),  # lone surrogate: Arrow can't store it
        "[" * 100_000,  # too deep for the JSON decoder: was a RecursionError
        json.dumps(good | {"ts": "0001-01-01T00:00:00+01:00"}),  # before year 1 in UTC
        json.dumps(good)]) + "\n")
    rows, bad, tally = read_all(JsonlSource(path=str(f), columns=MAP), f, tmp_path)
    assert [r["line"] for r in rows] == [5]
    assert {(b["line"], b["column"], b["reason"]) for b in bad} == {
        (1, "dom", "bad type"), (2, "uid", "bad encoding"), (3, None, "invalid json"),
        (4, "ts", "bad timestamp")}
    assert tally.read == 5


def test_iso_times_keep_every_microsecond():
    """``dt.timestamp() * 1e6`` went through a float and was 1 us off for ~1% of times."""
    from crossrec.collect.fields import epoch_us

    for text, us in [("2040-07-21T08:00:59.498409Z", 2_226_470_459_498_409),
                     ("1969-06-14T03:43:37.068167Z", -17_352_982_931_833)]:
        assert epoch_us(text, "auto", "ts") == us
        assert epoch_us(datetime.fromisoformat(text.replace("Z", "+00:00")), "auto", "ts") == us
