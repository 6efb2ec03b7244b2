"""SQL unit tests: literal input rows, expected output rows, in-memory DuckDB."""

from datetime import UTC, date, datetime

import duckdb
import pyarrow as pa
import pytest

from crossrec.features.build import default_sql_dir, run_model, run_variables, set_variables
from crossrec.features.incremental import refresh
from crossrec.layout import landing_partitions
from crossrec.schemas import INTERACTIONS, ITEMS
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
    refresh(con, SQL / "staging" / "stg_landed.sql", landing_partitions(data_dir / "landing"),
            "ingest_date")
    assert con.execute("SELECT count(*) FROM stg_landed").fetchall() == [(6,)]  # all, as landed
    set_variables(con, run_variables(tiny_settings(tmp_path), RUN_DATE))
    run_model(con, SQL / "staging" / "stg_clicks.sql")  # no click log yet: empty
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
    load_marts(con, [("a", "cloth:1", "cloth", ts(1), "train"),
                     ("b", "cloth:1", "cloth", ts(3), "train"),
                     ("a", "cloth:2", "cloth", ts(2), "train"),
                     ("c", "cloth:2", "cloth", ts(4), "warm_test"),  # truth: never counted
                     ("d", "cloth:3", "cloth", ts(4), "cold_test"),
                     ("a", "sport:1", "sport", ts(1), "train")])
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


# --- items, histories, sequences, item features -------------------------------------------------

def land_items(data_dir, ingest_date, name, data):
    """An items landing partition; ``data`` rows are (item_id, domain, title, categories)."""
    table = pa.table({"item_id": [d[0] for d in data], "domain": [d[1] for d in data],
                      "title": [d[2] for d in data], "categories": [d[3] for d in data],
                      "price": [1.5] * len(data), "brand": ["acme"] * len(data),
                      "source": [name] * len(data)}, schema=ITEMS)
    folder = partition_dir(data_dir / "landing", "ingest_date", ingest_date) / "items"
    write_parquet_atomic(table, folder / f"{name}.parquet")


def test_stg_items_latest_ingest_wins_in_scope_domains_only(tmp_path, con):
    land_items(tmp_path, date(2026, 11, 20), "a", [("cloth:1", "cloth", "old", ["top", "shirt"]),
                                                   ("sport:1", "sport", "ball", None),
                                                   ("books:1", "books", "novel", ["fiction"])])
    land_items(tmp_path, date(2026, 11, 21), "a", [("cloth:1", "cloth", "new", ["top"])])
    land_items(tmp_path, date(2026, 11, 21), "b", [("cloth:2", "cloth", None, None)])
    land_items(tmp_path, date(2026, 11, 23), "a", [("cloth:1", "cloth", "future", None)])
    set_variables(con, run_variables(tiny_settings(tmp_path), RUN_DATE))  # now sees the files
    assert run_model(con, SQL / "staging" / "stg_items.sql") == 3
    got = con.execute("SELECT item_id, domain, title, categories, price, brand, source, "
                      "ingest_date FROM stg_items ORDER BY item_id").fetchall()
    assert got == [
        ("cloth:1", "cloth", "new", ["top"], 1.5, "acme", "a", date(2026, 11, 21)),
        ("cloth:2", "cloth", None, None, 1.5, "acme", "b", date(2026, 11, 21)),
        ("sport:1", "sport", "ball", None, 1.5, "acme", "a", date(2026, 11, 20)),
    ]  # books is out of scope; the 2026-11-23 partition is after the run date


def test_stg_items_without_any_items_files_is_empty_and_typed(tmp_path, con):
    # Interactions landed, but no items/ folder anywhere: the placeholder file is read instead.
    land(tmp_path, RUN_DATE, "a", pa.table(
        {"user_id": ["u"], "item_id": ["cloth:1"], "domain": ["cloth"], "event_ts": [ts(1)],
         "rating": [None], "source": ["t"]}, schema=INTERACTIONS))
    variables = run_variables(tiny_settings(tmp_path), RUN_DATE)
    assert variables["items_files"] == [str(tmp_path / "tmp" / "empty-items.parquet")]
    set_variables(con, variables)
    assert run_model(con, SQL / "staging" / "stg_items.sql") == 0
    types = con.execute("SELECT column_name, data_type FROM information_schema.columns "
                        "WHERE table_name = 'stg_items' ORDER BY ordinal_position").fetchall()
    assert types == [("item_id", "VARCHAR"), ("domain", "VARCHAR"), ("title", "VARCHAR"),
                     ("categories", "VARCHAR[]"), ("price", "FLOAT"), ("brand", "VARCHAR"),
                     ("source", "VARCHAR"), ("ingest_date", "DATE")]


def test_empty_items_placeholder_matches_items_schema(tmp_path):
    import pyarrow.parquet as pq

    (path,) = run_variables(tiny_settings(tmp_path), RUN_DATE)["items_files"]
    placeholder = pq.read_table(path)
    assert placeholder.num_rows == 0 and placeholder.schema.equals(ITEMS)


def test_int_item_stats_recency_window(con):
    # RUN_DATE is 2026-11-22: the window is [11-16 00:00 UTC, 11-23 00:00 UTC).
    load_marts(con, [(u, i, d, t, "train") for u, i, d, t in [
        ("a", "cloth:1", "cloth", ts(15, 23)), ("b", "cloth:1", "cloth", ts(16)),
        ("c", "cloth:1", "cloth", ts(22, 23)), ("a", "cloth:2", "cloth", ts(23)),
        ("a", "sport:1", "sport", ts(1))]])
    run_model(con, SQL / "intermediate" / "int_item_stats.sql")
    got = con.execute("SELECT item_id, domain, n_users, last_event_ts, popularity_rank, n_last_7d "
                      "FROM int_item_stats ORDER BY item_id").fetchall()
    assert got == [("cloth:1", "cloth", 3, ts(22, 23), 1, 2),
                   ("cloth:2", "cloth", 1, ts(23), 2, 0),
                   ("sport:1", "sport", 1, ts(1), 1, 0)]


def load_marts(con, rows):
    """mart_interactions from (user, item, domain, event_ts, role) rows."""
    con.execute("CREATE TABLE mart_interactions (user_id VARCHAR, item_id VARCHAR, "
                "domain VARCHAR, event_ts TIMESTAMPTZ, role VARCHAR)")
    con.executemany("INSERT INTO mart_interactions VALUES (?, ?, ?, ?, ?)", rows)


def test_mart_item_features_train_rows_only_with_attributes(con):
    load_marts(con, [
        ("a", "cloth:1", "cloth", ts(10), "train"), ("b", "cloth:1", "cloth", ts(20), "train"),
        ("a", "cloth:2", "cloth", ts(21), "train"), ("c", "cloth:2", "cloth", ts(21), "warm_test"),
        ("d", "cloth:2", "cloth", ts(21), "cold_test"), ("d", "cloth:3", "cloth", ts(21),
                                                         "cold_val"),
        ("a", "sport:1", "sport", ts(16), "train")])
    con.execute("CREATE TABLE stg_items (item_id VARCHAR, domain VARCHAR, title VARCHAR, "
                "categories VARCHAR[], price FLOAT, brand VARCHAR, source VARCHAR, "
                "ingest_date DATE)")
    con.executemany("INSERT INTO stg_items VALUES (?, ?, ?, ?, ?, ?, 's', ?)", [
        ("cloth:1", "cloth", "shirt", ["top", "shirt"], 9.5, "acme", RUN_DATE),
        ("sport:1", "sport", None, [], None, None, RUN_DATE),
        ("cloth:3", "cloth", "sock", ["feet"], 1.0, "x", RUN_DATE)])
    run_model(con, SQL / "intermediate" / "int_item_stats.sql")
    assert run_model(con, SQL / "marts" / "mart_item_features.sql") == 3
    got = con.execute("SELECT * FROM mart_item_features ORDER BY item_id").fetchall()
    assert got == [
        # cloth:1 has 2 training users, cloth:2 only 1: its test rows do not count
        # the leaf of the category path, not its root
        ("cloth:1", "cloth", 2, 1, ts(20), 1, "shirt", "shirt", 9.5, "acme"),
        ("cloth:2", "cloth", 1, 2, ts(21), 1, None, None, None, None),  # no attributes landed
        ("sport:1", "sport", 1, 1, ts(16), 1, None, None, None, None),
    ]  # cloth:3 is only evaluation truth: not an item seen in training


def split_of(tmp_path, seed, n_users=2000):
    """mart_eval_split on its own fresh connection, as {user_id: user_split}."""
    c = duckdb.connect()
    set_variables(c, run_variables(tiny_settings(tmp_path, split={"seed": seed}), RUN_DATE))
    rows = []
    for u in range(n_users):
        rows += [(f"u{u}", "sport:1", "sport", ts(1)), (f"u{u}", "cloth:1", "cloth", ts(1))]
    rows += [(f"s{u}", "sport:1", "sport", ts(1)) for u in range(100)]  # not overlapping
    load_stg(c, rows)
    for m in ("intermediate/int_user_domains", "marts/mart_eval_split"):
        run_model(c, SQL / f"{m}.sql")
    got = c.execute("SELECT user_id, user_split, split_seed FROM mart_eval_split").fetchall()
    c.close()
    assert {r[2] for r in got} == {seed}
    return {r[0]: r[1] for r in got}


def test_eval_split_is_a_function_of_the_seed(tmp_path):
    frac = tiny_settings(tmp_path).split.cold_test_frac
    first, again, other = split_of(tmp_path, 11), split_of(tmp_path, 11), split_of(tmp_path, 12)
    assert first == again  # same seed, separate builds: the same split, user for user
    moved = sum(first[u] != other[u] for u in first)
    assert moved > 200  # a different seed redraws the split, not just a user or two
    for split in (first, other):
        overlap = [s for u, s in split.items() if u.startswith("u")]
        assert abs(overlap.count("cold_test") / len(overlap) - frac) < 0.03
        assert {s for u, s in split.items() if u.startswith("s")} == {"train"}


def test_build_features_without_items_exports_new_marts(tmp_path):
    from crossrec.features.build import MODELS, build_features

    data = [(f"u{u}", f"{d}:{i}", d, ts(10 + i)) for u in range(6) for d in ("sport", "cloth")
            for i in range(3)]
    land(tmp_path, RUN_DATE, "a", pa.table(
        {"user_id": [r[0] for r in data], "item_id": [r[1] for r in data],
         "domain": [r[2] for r in data], "event_ts": [r[3] for r in data],
         "rating": [None] * len(data), "source": ["t"] * len(data)}, schema=INTERACTIONS))
    built = build_features(tiny_settings(tmp_path), RUN_DATE)
    assert set(built.row_counts) == {m.split("/")[1] for m in MODELS}
    assert built.row_counts["stg_items"] == 0
    assert set(built.exports) == {"mart_eval_split", "mart_interactions",
                                  "mart_item_features", "mart_weak_negatives"}
    assert built.row_counts["mart_weak_negatives"] == 0  # no click log yet
    with duckdb.connect() as c:
        users = c.execute("SELECT count(*), min(n) FROM (SELECT user_id, count(*) AS n "
                          "FROM read_parquet(?) WHERE domain = 'sport' AND role = 'train' "
                          "GROUP BY user_id)", [str(built.exports["mart_interactions"])]
                          ).fetchall()
        items = c.execute("SELECT count(*), count(title) FROM read_parquet(?)",
                          [str(built.exports["mart_item_features"])]).fetchall()
    # cloth:2 is every user's newest target item: held out (warm_test or cold), never trained on
    assert users == [(6, 3)] and items == [(5, 0)]


def test_stg_clicks_dedupes_events_and_keeps_partitions_up_to_run_date(tmp_path, con):
    from crossrec.schemas import CLICKS

    def events(rows):
        return pa.table({
            "event_id": [r[0] for r in rows], "event_ts": [r[1] for r in rows],
            "user_id": ["u1"] * len(rows), "item_id": ["cloth:1"] * len(rows),
            "event_type": [r[2] for r in rows], "rec_run_date": [date(2026, 11, 19)] * len(rows),
            "rank": [1] * len(rows), "model_version": ["m"] * len(rows)}, schema=CLICKS)

    lake = tmp_path / "lake" / "clicks"
    write_parquet_atomic(events([("e1", ts(20), "impression"), ("e2", ts(20, 1), "click")]),
                         lake / "event_date=2026-11-20" / "a.parquet")
    # e2 delivered again the next day; e3 is a late event in its own date; e9 is after run date
    write_parquet_atomic(events([("e2", ts(20, 1), "click"), ("e3", ts(21), "purchase")]),
                         lake / "event_date=2026-11-21" / "b.parquet")
    write_parquet_atomic(events([("e9", ts(23), "click")]),
                         lake / "event_date=2026-11-23" / "c.parquet")
    set_variables(con, run_variables(tiny_settings(tmp_path), RUN_DATE))
    assert run_model(con, SQL / "staging" / "stg_clicks.sql") == 3
    got = con.execute("SELECT event_id, event_type, event_date FROM stg_clicks "
                      "ORDER BY event_id").fetchall()
    assert got == [("e1", "impression", date(2026, 11, 20)),
                   ("e2", "click", date(2026, 11, 20)),  # its first delivery
                   ("e3", "purchase", date(2026, 11, 21))]


def test_stg_clicks_is_empty_and_typed_before_any_click_log(tmp_path, con):
    set_variables(con, run_variables(tiny_settings(tmp_path), RUN_DATE))
    assert run_model(con, SQL / "staging" / "stg_clicks.sql") == 0
    types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns "
                             "WHERE table_name = 'stg_clicks'").fetchall())
    assert types["rank"] == "SMALLINT" and types["event_date"] == "DATE"


def test_clicks_and_purchases_become_target_interactions(tmp_path, con):
    from crossrec.schemas import CLICKS, INTERACTIONS

    land(tmp_path, date(2026, 11, 20), "a", pa.table({
        "user_id": ["u1", "u1"], "item_id": ["sport:1", "cloth:1"], "domain": ["sport", "cloth"],
        "event_ts": [ts(19), ts(19)], "rating": [None, None], "source": ["t", "t"]},
        schema=INTERACTIONS))
    clicks = pa.table({
        "event_id": ["e1", "e2", "e3", "e4"],
        "event_ts": [ts(20), ts(20, 1), ts(20, 2), ts(20, 3)],
        "user_id": ["u1", "u1", "u2", "u1"],
        "item_id": ["7", "8", "9", "1"],  # as published: the user's own ids
        "event_type": ["impression", "click", "purchase", "click"],
        "rec_run_date": [date(2026, 11, 19)] * 4, "rank": [1, 2, 1, 3],
        "model_version": ["m"] * 4}, schema=CLICKS)
    write_parquet_atomic(clicks, tmp_path / "lake" / "clicks" / "event_date=2026-11-20"
                         / "a.parquet")
    refresh(con, SQL / "staging" / "stg_landed.sql", landing_partitions(tmp_path / "landing"),
            "ingest_date")
    set_variables(con, run_variables(tiny_settings(tmp_path), RUN_DATE))
    run_model(con, SQL / "staging" / "stg_clicks.sql")
    run_model(con, SQL / "staging" / "stg_interactions.sql")
    got = con.execute("SELECT user_id, item_id, domain, source FROM stg_interactions "
                      "ORDER BY ALL").fetchall()
    assert got == [
        ("u1", "cloth:1", "cloth", "t"),  # already had it (its key): the landed row stays
        ("u1", "cloth:8", "cloth", "clicks"),  # a click is a positive
        ("u1", "sport:1", "sport", "t"),
        ("u2", "cloth:9", "cloth", "clicks"),  # a purchase too, even for a user new to us
    ]  # the impression of cloth:7 is not an interaction
