"""SQL unit tests: literal input rows, expected output rows, in-memory DuckDB."""

from datetime import UTC, date, datetime

import duckdb
import pyarrow as pa
import pytest

from crossrec.features.build import default_sql_dir, run_model, run_variables, set_variables
from crossrec.schemas import INTERACTIONS
from crossrec.storage import partition_dir, write_parquet_atomic
from tests.conftest import RUN_DATE, tiny_settings

SQL = default_sql_dir()


def ts(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


@pytest.fixture
def con(tmp_path):
    c = duckdb.connect()
    set_variables(c, run_variables(tiny_settings(tmp_path), RUN_DATE))
    yield c
    c.close()


def land(data_dir, ingest_date, name, table):
    """A landing partition as the collector lays it out."""
    folder = partition_dir(data_dir / "landing", "ingest_date", ingest_date) / "interactions"
    write_parquet_atomic(table, folder / f"{name}.parquet")


def load_stg(con, rows):
    con.execute("CREATE TABLE stg_interactions (user_id VARCHAR, item_id VARCHAR, domain VARCHAR,"
                " event_ts TIMESTAMPTZ, rating FLOAT, source VARCHAR, ingest_date DATE)")
    for r in rows:
        con.execute("INSERT INTO stg_interactions VALUES (?, ?, ?, ?, NULL, 'test', ?)",
                    [*r, RUN_DATE])


def test_stg_interactions_dedupes_filters_domain_and_future_partitions(tmp_path, con):
    def rows(data):
        return pa.table({"user_id": [d[0] for d in data], "item_id": [d[1] for d in data],
                         "domain": [d[2] for d in data], "event_ts": [d[3] for d in data],
                         "rating": [None] * len(data), "source": ["t"] * len(data)},
                        schema=INTERACTIONS)

    data_dir = tmp_path
    land(data_dir, date(2026, 11, 20), "a", rows([("u1", "sport:1", "sport", ts(19)),
                                                  ("u1", "cloth:1", "cloth", ts(19)),
                                                  ("u2", "books:1", "books", ts(19))]))
    land(data_dir, date(2026, 11, 21), "a", rows([("u1", "sport:1", "sport", ts(18)),
                                                  ("u3", "cloth:2", "cloth", ts(20))]))
    land(data_dir, date(2026, 11, 23), "a", rows([("u9", "cloth:9", "cloth", ts(22))]))
    run_model(con, SQL / "staging" / "stg_interactions.sql")
    got = con.execute("SELECT user_id, item_id, event_ts, ingest_date FROM stg_interactions "
                      "ORDER BY ALL").fetchall()
    assert got == [
        ("u1", "cloth:1", ts(19), date(2026, 11, 20)),
        ("u1", "sport:1", ts(18), date(2026, 11, 21)),  # earliest event of the pair wins
        ("u3", "cloth:2", ts(20), date(2026, 11, 21)),
    ]  # books is out of scope; the 2026-11-23 partition is after the run date


def test_int_user_domains_counts_and_overlap(con):
    load_stg(con, [("a", "sport:1", "sport", ts(1)), ("a", "cloth:1", "cloth", ts(1)),
                   ("a", "cloth:2", "cloth", ts(2)), ("b", "sport:1", "sport", ts(1))])
    run_model(con, SQL / "intermediate" / "int_user_domains.sql")
    assert con.execute("SELECT * FROM int_user_domains ORDER BY user_id").fetchall() == [
        ("a", 1, 2, True), ("b", 1, 0, False)]


def test_int_item_stats_popularity_rank(con):
    load_stg(con, [("a", "cloth:1", "cloth", ts(1)), ("b", "cloth:1", "cloth", ts(3)),
                   ("a", "cloth:2", "cloth", ts(2)), ("a", "sport:1", "sport", ts(1))])
    run_model(con, SQL / "intermediate" / "int_item_stats.sql")
    got = con.execute("SELECT item_id, n_users, last_event_ts, popularity_rank "
                      "FROM int_item_stats ORDER BY item_id").fetchall()
    assert got == [("cloth:1", 2, ts(3), 1), ("cloth:2", 1, ts(2), 2), ("sport:1", 1, ts(1), 1)]


def build_split(con, n_users=2000):
    rows = []
    for u in range(n_users):
        rows += [(f"u{u}", "sport:1", "sport", ts(1)), (f"u{u}", "cloth:1", "cloth", ts(1)),
                 (f"u{u}", "cloth:2", "cloth", ts(2))]
    rows.append(("solo", "sport:1", "sport", ts(1)))
    load_stg(con, rows)
    for m in ("intermediate/int_user_domains", "marts/mart_eval_split",
              "marts/mart_interactions"):
        run_model(con, SQL / f"{m}.sql")


def test_eval_split_fractions_seed_and_reproducibility(con):
    build_split(con)
    shares = dict(con.execute("SELECT user_split, count(*) / 2000 FROM mart_eval_split "
                              "WHERE user_id <> 'solo' GROUP BY 1").fetchall())
    assert abs(shares["cold_test"] - 0.2) < 0.03 and abs(shares["cold_val"] - 0.1) < 0.03
    assert con.execute("SELECT user_split, split_seed FROM mart_eval_split "
                       "WHERE user_id = 'solo'").fetchall() == [("train", 42)]
    first = con.execute("SELECT * FROM mart_eval_split ORDER BY user_id").fetchall()
    run_model(con, SQL / "marts" / "mart_eval_split.sql")
    assert con.execute("SELECT * FROM mart_eval_split ORDER BY user_id").fetchall() == first
    con.execute("SET VARIABLE split_seed = ?", [7])
    run_model(con, SQL / "marts" / "mart_eval_split.sql")
    assert con.execute("SELECT * FROM mart_eval_split ORDER BY user_id").fetchall() != first


def test_mart_interactions_roles(con):
    build_split(con, n_users=200)
    roles = dict(con.execute(
        "SELECT s.user_split || '/' || m.domain || '/' || m.item_id, "
        "string_agg(DISTINCT m.role, ',') FROM mart_interactions m "
        "JOIN mart_eval_split s USING (user_id) GROUP BY 1").fetchall())
    assert roles["cold_test/cloth/cloth:1"] == "cold_test"
    assert roles["cold_val/cloth/cloth:2"] == "cold_val"
    assert roles["cold_test/sport/sport:1"] == "train"  # source history stays for cold users
    assert roles["train/cloth/cloth:2"] == "warm_test"  # last target item by time
    assert roles["train/cloth/cloth:1"] == "train"
    leaks = con.execute("SELECT count(*) FROM mart_interactions m JOIN mart_eval_split s "
                        "USING (user_id) WHERE m.role = 'train' AND m.domain = 'cloth' "
                        "AND s.user_split <> 'train'").fetchall()[0][0]
    assert leaks == 0
