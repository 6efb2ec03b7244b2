"""Click-log ingestion on hand-made files: every kind of bad input, and idempotency."""

import gzip
import json
from datetime import UTC, date, datetime

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crossrec.clicks.ingest import click_paths, ingest_day, validate_events
from crossrec.errors import ValidationFailed
from crossrec.layout import Layout
from crossrec.schemas import RECOMMENDATIONS
from tests.conftest import tiny_settings

SERVED = date(2026, 11, 22)
DAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def event(i, kind="impression", user="u1", item="cloth:1", ts="2026-11-23T10:00:00Z",
          run="2026-11-22", rank=1, **extra):
    return {"event_id": f"e{i}", "event_ts": ts, "user_id": user, "item_id": item,
            "event_type": kind, "rec_run_date": run, "rank": rank, "model_version": "v1",
            **extra}


def publish_fake_lists(s):
    """Lists served on SERVED: u1 got cloth:1, cloth:2; u2 got cloth:3."""
    recs = pa.table({"user_id": ["u1", "u1", "u2"], "rank": [1, 2, 1],
                     "item_id": ["cloth:1", "cloth:2", "cloth:3"], "score": [2.0, 1.0, 3.0],
                     "model_version": ["v1"] * 3, "explanation": [None] * 3},
                    schema=RECOMMENDATIONS)
    folder = Layout(s.data_dir).recommendations(SERVED, s.domains.target)
    folder.mkdir(parents=True)
    pq.write_table(recs, folder / "part-00000.parquet")


@pytest.fixture
def settings(tmp_path):
    s = tiny_settings(tmp_path / "data")
    publish_fake_lists(s)
    return s


def drop(settings, name, lines):
    folder = click_paths(settings, DAY).drop
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(line + "\n" for line in lines))
    return path


def lake_rows(settings):
    return pl.read_parquet(settings.data_dir / "lake" / "clicks", hive_partitioning=True)


def test_bad_input_is_quarantined_with_reasons_and_nothing_double_counted(settings):
    good = [event(1), event(2, "click"), event(3, "purchase", rank=1),
            event(4, user="u2", item="cloth:3")]
    drop(settings, "a.jsonl", [json.dumps(e) for e in good] + [
        json.dumps(good[0]),                                    # duplicate within the file
        json.dumps(event(5, rank="top")),                       # malformed rank
        '{"event_id": "e6", "event_ts": "2026-11-23T1',          # truncated line
        json.dumps(event(7, user="ghost")),                     # unknown user
        json.dumps(event(8, item="cloth:999")),                 # unknown item
        json.dumps(event(9, run="2026-11-01")),                 # no published run
        json.dumps(event(10, ts="2030-01-01T00:00:00Z")),       # in the future
        json.dumps(event(11, ts="2026-11-22T23:30:00Z")),       # late: yesterday's session
        json.dumps(event(12, "click", device="ios")),           # extra column: dropped, counted
    ])
    pq.write_table(pa.Table.from_pylist([event(2, "click"), event(13, "click", item="cloth:2",
                                                                  rank=2)]),
                   click_paths(settings, DAY).drop / "b.parquet")
    summary = ingest_day(settings, DAY, now=NOW)

    assert summary["totals"]["read"] == 15 and summary["totals"]["kept"] == 7
    assert summary["quarantined_by_reason"] == {
        "duplicate event_id": 2, "bad rank": 1, "invalid json": 1, "unknown user": 1,
        "unknown item": 1, "no published run": 1, "future timestamp": 1}
    assert summary["totals"]["read"] == summary["totals"]["kept"] + summary["totals"][
        "quarantined"]  # nothing lost silently
    assert summary["written"] == {"2026-11-22": 1, "2026-11-23": 6}
    assert summary["totals"]["late"] == 1
    files = {f["file"]: f for f in summary["files"]}
    assert files["a.jsonl"]["ignored_columns"] == {"device": 1}
    rows = lake_rows(settings)
    assert sorted(rows["event_id"]) == ["e1", "e11", "e12", "e13", "e2", "e3", "e4"]
    assert rows.filter(pl.col("event_id") == "e11")["event_date"].to_list() == [SERVED]
    q = pl.read_parquet(click_paths(settings, DAY).quarantine)
    dup = q.filter(pl.col("reason") == "duplicate event_id").sort("file")
    assert dup["detail"].to_list() == ["same event as a.jsonl line 1",
                                       "same event as a.jsonl line 2"]
    assert q.filter(pl.col("reason") == "bad rank")["line"].to_list() == [6]
    assert (settings.data_dir / "reports" / "2026-11-23" / "clicks.json").is_file()


def test_reingesting_adds_nothing(settings):
    drop(settings, "a.jsonl", [json.dumps(event(1)), json.dumps(event(2, "click"))])
    ingest_day(settings, DAY, now=NOW)
    before = sorted(p.name for p in (settings.data_dir / "lake" / "clicks").rglob("*.parquet"))
    again = ingest_day(settings, DAY, now=NOW)  # the same file: skipped by its checksum
    assert again["skipped_files"][0]["reason"] == "already ingested"
    assert again["totals"]["kept"] == 0
    # the same events in a new file (other bytes): every event is a known duplicate
    drop(settings, "a-resent.jsonl", [json.dumps(event(2, "click")), json.dumps(event(1))])
    resent = ingest_day(settings, DAY, now=NOW)
    assert resent["totals"] == {"read": 2, "kept": 0, "quarantined": 2, "late": 0,
                                "by_event_type": {}}
    assert sorted(p.name for p in (settings.data_dir / "lake" / "clicks").rglob(
        "*.parquet")) == before
    assert lake_rows(settings).height == 2


def test_a_truncated_gzip_keeps_what_came_before_and_says_where_it_broke(settings):
    folder = click_paths(settings, DAY).drop
    folder.mkdir(parents=True)
    data = gzip.compress("".join(json.dumps(event(i)) + "\n" for i in range(1, 200)).encode())
    (folder / "cut.jsonl.gz").write_bytes(data[: len(data) // 2])
    summary = ingest_day(settings, DAY, now=NOW)
    assert summary["quarantined_by_reason"].get("truncated file") == 1
    assert 0 < summary["totals"]["kept"] < 199
    totals = summary["totals"]  # the cut counts as read: it was quarantined (fuzz finding)
    assert totals["read"] == totals["kept"] + totals["quarantined"]


def test_no_files_is_a_quiet_no_op(settings):
    summary = ingest_day(settings, DAY, now=NOW)
    assert summary["totals"]["read"] == 0 and summary["written"] == {}


def test_contract_suite_is_the_backstop(settings):
    bad = pl.DataFrame({**{k: [v] for k, v in event(1).items()}, "event_date": [DAY]}).with_columns(
        pl.lit(0).cast(pl.Int16).alias("rank"))
    with pytest.raises(ValidationFailed, match="rank"):
        validate_events(settings, bad)


def test_rates_by_rank_model_and_user_kind(settings):
    from crossrec.clicks.metrics import feedback_tables

    drop(settings, "a.jsonl", [json.dumps(e) for e in [
        event(1), event(2, "click"), event(3, "purchase"),           # u1, cloth:1 at rank 1
        event(4, item="cloth:2", rank=2),                             # u1, cloth:2 at rank 2
        event(5, user="u2", item="cloth:3"), event(6, "click", user="u2", item="cloth:3")]])
    ingest_day(settings, DAY, now=NOW)
    tables = feedback_tables(settings, DAY)
    by_rank = {r["rank"]: r for r in tables["rank"]}
    assert (by_rank[1]["impressions"], by_rank[1]["clicks"], by_rank[1]["purchases"]) == (2, 2, 1)
    assert by_rank[1]["ctr"] == 1.0 and by_rank[1]["purchase_rate"] == 0.5
    assert by_rank[2]["ctr"] == 0.0
    assert tables["model_version"] == [{"model_version": "v1", "impressions": 3, "clicks": 2,
                                        "purchases": 1, "ctr": 0.6667,
                                        "purchase_rate": 0.3333}]
    assert {r["user_kind"] for r in tables["user_kind"]} == {"unknown"}  # no warehouse here


def test_parser_quarantines_hostile_lines_and_counts_every_one(tmp_path):
    """Found by the fuzz test (test_fuzz_ingest): the first three crashed the parse."""
    from crossrec.clicks.parse import parse_file

    f = tmp_path / "a.jsonl"
    f.write_text("\n".join([
        json.dumps(event(1, rank="³")),  # isdigit() but not int(): was a ValueError
        '{"rank": ' + "1" * 5000 + "}",  # over Python's int digit limit: was a ValueError
        "[" * 100_000,  # too deep for the JSON decoder: was a RecursionError
        json.dumps(event(4) | {"event_id": "\ud800"}),  # lone surrogate: polars can't store it
        json.dumps(event(5))]) + "\n")
    parsed = parse_file(f)
    assert [(b.line, b.column, b.reason) for b in parsed.bad] == [
        (1, "rank", "bad rank"), (2, None, "invalid json"), (3, None, "invalid json"),
        (4, "event_id", "bad encoding")]
    assert parsed.kept == 1 and parsed.read == 5
