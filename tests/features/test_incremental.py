"""Incremental models: only new, re-collected or vanished landing partitions are touched."""

import shutil
from datetime import UTC, date, datetime

import duckdb
import pyarrow as pa
import pytest

from crossrec.features.build import default_sql_dir
from crossrec.features.incremental import STATE, refresh
from crossrec.layout import landing_partitions
from crossrec.schemas import INTERACTIONS
from crossrec.storage import partition_dir, write_parquet_atomic

SQL = default_sql_dir() / "staging" / "stg_landed.sql"
D1, D2, D3 = date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22)


def land(root, day, users):
    n = len(users)
    table = pa.table({"user_id": users, "item_id": [f"cloth:{u}" for u in users],
                      "domain": ["cloth"] * n,
                      "event_ts": [datetime(2026, 11, 1, tzinfo=UTC)] * n,
                      "rating": [None] * n, "source": ["t"] * n}, schema=INTERACTIONS)
    folder = partition_dir(root / "landing", "ingest_date", day) / "interactions"
    write_parquet_atomic(table, folder / "t.parquet")


def rows(con):
    return con.execute("SELECT ingest_date, user_id FROM stg_landed ORDER BY ALL").fetchall()


def run(con, root, full=False):
    return refresh(con, SQL, landing_partitions(root / "landing"), "ingest_date", full)


@pytest.fixture
def con():
    c = duckdb.connect()
    yield c
    c.close()


def test_loads_only_new_and_changed_partitions(tmp_path, con):
    land(tmp_path, D1, ["a", "b"])
    land(tmp_path, D2, ["c"])
    first = run(con, tmp_path)
    assert first.loaded == [D1, D2] and first.full_refresh
    assert rows(con) == [(D1, "a"), (D1, "b"), (D2, "c")]

    again = run(con, tmp_path)
    assert (again.loaded, again.deleted, again.unchanged) == ([], [], 2)

    land(tmp_path, D3, ["d"])
    land(tmp_path, D1, ["a"])  # D1 re-collected with one row fewer
    nightly = run(con, tmp_path)
    assert nightly.loaded == [D1, D3] and nightly.unchanged == 1 and not nightly.full_refresh
    assert rows(con) == [(D1, "a"), (D2, "c"), (D3, "d")]

    shutil.rmtree(partition_dir(tmp_path / "landing", "ingest_date", D2))
    gone = run(con, tmp_path)
    assert gone.deleted == [D2] and rows(con) == [(D1, "a"), (D3, "d")]


def test_full_refresh_reloads_everything_to_the_same_rows(tmp_path, con):
    land(tmp_path, D1, ["a"])
    land(tmp_path, D2, ["b"])
    run(con, tmp_path)
    before = rows(con)
    full = run(con, tmp_path, full=True)
    assert full.loaded == [D1, D2] and full.full_refresh and rows(con) == before


def test_a_broken_partition_rolls_back_table_and_state(tmp_path, con):
    land(tmp_path, D1, ["a"])
    run(con, tmp_path)
    state = con.execute(f"SELECT * FROM {STATE}").fetchall()
    land(tmp_path, D2, ["b"])
    broken = partition_dir(tmp_path / "landing", "ingest_date", D3) / "interactions"
    broken.mkdir(parents=True)
    (broken / "t.parquet").write_bytes(b"PAR1 not really parquet")
    with pytest.raises(duckdb.Error):
        run(con, tmp_path)
    assert rows(con) == [(D1, "a")]  # D2 was not half-applied
    assert con.execute(f"SELECT * FROM {STATE}").fetchall() == state
