"""The gate on real landing partitions (pyarrow parquet), a real DuckDB warehouse and real GX:
every kind of bad batch fails with its suite, column and example values; a clean one passes."""

import json
import shutil
from datetime import timedelta

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crossrec.collect.collector import collect, summary_path
from crossrec.errors import ValidationFailed
from crossrec.features.build import build_features
from crossrec.validate.gate import (
    data_docs_dir,
    landing_files,
    previous_row_count,
    validate_warehouse,
)
from tests.conftest import RUN_DATE, tiny_settings

NULLABLE = pa.schema([
    pa.field("user_id", pa.string()), pa.field("item_id", pa.string()),
    pa.field("domain", pa.string()), pa.field("event_ts", pa.timestamp("us", tz="UTC")),
    pa.field("rating", pa.float32()), pa.field("source", pa.string()),
])


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """One collected and built world; each test works on its own copy."""
    root = tmp_path_factory.mktemp("gate-base") / "data"
    settings = tiny_settings(root)
    collect(settings, RUN_DATE)
    build_features(settings, RUN_DATE)
    return root


@pytest.fixture
def world(base, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(base, root)
    return tiny_settings(root)


def landed(settings, day=RUN_DATE) -> pa.Table:
    return pa.concat_tables(pq.read_table(f) for f in landing_files(settings, day))


def land(settings, table: pa.Table, day=RUN_DATE, name="extra") -> None:
    """Write one more interactions file into the day's landing partition and rebuild."""
    folder = settings.data_dir / "landing" / f"ingest_date={day.isoformat()}" / "interactions"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.select(NULLABLE.names).cast(NULLABLE), folder / f"{name}.parquet")
    build_features(settings, day)


def rows(**columns) -> pa.Table:
    n = len(next(iter(columns.values())))
    base = {"user_id": [f"u{i}" for i in range(n)], "item_id": [f"cloth:{i}" for i in range(n)],
            "domain": ["cloth"] * n, "event_ts": [RUN_DATE.isoformat() + "T10:00:00Z"] * n,
            "rating": [4.0] * n, "source": ["test"] * n}
    base.update(columns)
    table = pa.table({k: v for k, v in base.items() if k != "event_ts"})
    ts = pa.array(base["event_ts"]).cast(pa.timestamp("us", tz="UTC"))
    return table.append_column("event_ts", ts)


def failures(settings, day=RUN_DATE):
    report = json.loads((settings.data_dir / "reports" / day.isoformat()
                         / "validation.json").read_text())
    return {(s["suite"], f["expectation"], str(f["column"])): f
            for s in report["suites"] for f in s["failures"]}


def test_clean_batch_passes_and_writes_data_docs(world):
    report = json.loads(validate_warehouse(world, RUN_DATE).read_text())
    assert report["success"]
    assert report["row_counts"]["landing"] == landed(world).num_rows > 0
    suites = {s["suite"] for s in report["suites"]}
    assert {"landing.interactions", "contract.stg_interactions", "check.cold_user_leak",
            "check.collect_quarantine"} <= suites
    assert any("row-count change" in n and "skipped" in n for n in report["notes"])
    docs = data_docs_dir(world, RUN_DATE)
    assert (docs / "index.html").is_file() and (docs / "landing.interactions.html").is_file()
    assert "passed" in (docs / "index.html").read_text()


def test_duplicate_keys_fail_with_examples_and_data_docs(world):
    dup = landed(world).slice(0, 3)
    land(world, dup)
    with pytest.raises(ValidationFailed, match=r"landing\.interactions: column "
                       r"\(user_id, item_id, domain, event_ts\) "
                       r"expect_compound_columns_to_be_unique") as err:
        validate_warehouse(world, RUN_DATE)
    first_user = dup.column("user_id")[0].as_py()
    assert f"user_id={first_user}" in str(err.value)
    f = failures(world)[("landing.interactions", "expect_compound_columns_to_be_unique",
                         str(["user_id", "item_id", "domain", "event_ts"]))]
    assert f["examples"]
    docs = data_docs_dir(world, RUN_DATE)
    index = (docs / "index.html").read_text()
    assert "FAILED" in index and "expect_compound_columns_to_be_unique" in index
    assert first_user in index
    page = (docs / "landing.interactions.html").read_text()
    assert "unique" in page and first_user in page


def test_null_user_ids_fail(world):
    land(world, rows(user_id=[None, None, "u9"]))
    with pytest.raises(ValidationFailed,
                       match="landing.interactions: column user_id "
                             "expect_column_values_to_not_be_null"):
        validate_warehouse(world, RUN_DATE)
    assert failures(world)[("landing.interactions", "expect_column_values_to_not_be_null",
                            "user_id")]["observed"] == 2


def test_unconfigured_domain_fails_although_staging_drops_it(world):
    land(world, rows(domain=["books"] * 4, item_id=[f"books:{i}" for i in range(4)]))
    with pytest.raises(ValidationFailed, match="landing.interactions: column domain "
                       "expect_column_values_to_be_in_set.*e.g. books"):
        validate_warehouse(world, RUN_DATE)
    found = failures(world)
    assert found[("landing.interactions", "expect_column_values_to_be_in_set", "domain")][
        "examples"] == ["books"] * 4
    # staging filtered the rows out silently: only the landing suite sees them
    assert not [k for k in found if k[0] != "landing.interactions"]


def test_row_count_drop_vs_previous_run_fails_with_both_counts(world):
    validate_warehouse(world, RUN_DATE)
    n = landed(world).num_rows
    day2, day3 = RUN_DATE + timedelta(days=1), RUN_DATE + timedelta(days=2)
    # the next day lands a similar batch (other users, so no duplicates): within tolerance
    same = landed(world).set_column(0, "user_id", pa.array(
        [f"d2-{u}" for u in landed(world).column("user_id").to_pylist()]))
    land(world, same, day2)
    validate_warehouse(world, day2)
    assert previous_row_count(world, day2 + timedelta(days=1)) == (day2, n)
    # the day after lands 10% of it: a 90% drop vs day2 (the newest earlier run)
    small = same.slice(0, n // 10).set_column(0, "user_id", pa.array(
        [f"d3-{i}" for i in range(n // 10)]))
    land(world, small, day3)
    with pytest.raises(ValidationFailed, match="check.landing_row_change") as err:
        validate_warehouse(world, day3)
    message = str(err.value)
    assert f"observed {n // 10}" in message and f"landed {n} rows" in message
    assert day2.isoformat() in message
    # a looser tolerance lets the same batch through
    validate_warehouse(world, day3, max_row_change=0.95)


def test_evaluation_leak_fails(world):
    with duckdb.connect(str(world.data_dir / "warehouse.duckdb")) as con:
        leaked = con.execute(
            "UPDATE mart_interactions SET role = 'train' WHERE domain = 'cloth' AND user_id IN "
            "(SELECT user_id FROM mart_eval_split WHERE user_split <> 'train')").fetchall()
    assert leaked[0][0] > 0
    with pytest.raises(ValidationFailed, match="check.cold_user_leak"):
        validate_warehouse(world, RUN_DATE)


def test_too_many_quarantined_rows_fail(world):
    path = summary_path(world, RUN_DATE)
    summary = json.loads(path.read_text())
    summary["totals"]["quarantined"] = summary["totals"]["read"] // 10
    path.write_text(json.dumps(summary))
    with pytest.raises(ValidationFailed, match="check.collect_quarantine: column "
                       "quarantined_share expect_column_values_to_be_between") as err:
        validate_warehouse(world, RUN_DATE)
    assert f"{summary['totals']['read'] // 10} of {summary['totals']['read']}" in str(err.value)
    validate_warehouse(world, RUN_DATE, max_quarantined_share=0.2)


def test_missing_collect_summary_skips_quarantine_check(world):
    summary_path(world, RUN_DATE).unlink()
    report = json.loads(validate_warehouse(world, RUN_DATE).read_text())
    assert report["success"]
    assert "check.collect_quarantine" not in {s["suite"] for s in report["suites"]}
    assert any("collect.json" in n for n in report["notes"])


def test_a_configured_domain_with_no_rows_names_each_file_and_its_domains(tmp_path):
    """An export whose domain is spelt differently from the config: the other domain's rows
    are filtered, so nothing of it lands, and the gate says which domains each file has."""
    export = tmp_path / "export.csv"
    export.write_text("user_id,item_id,domain,rating\n" + "".join(
        f"u{i},{i % 9},{d},5\n" for i in range(80) for d in ("sports", "cloth", "books")))
    settings = tiny_settings(tmp_path / "data", sources=[{
        "kind": "csv", "path": str(export),
        "columns": {"user_id": "user_id", "item_id": "item_id", "domain": "domain",
                    "rating": "rating"}}])
    summary = collect(settings, RUN_DATE)
    assert summary["totals"]["filtered"] == 160 and summary["landed_by_domain"] == {"cloth": 80}
    build_features(settings, RUN_DATE)
    with pytest.raises(ValidationFailed) as err:
        validate_warehouse(settings, RUN_DATE)
    msg = str(err.value)
    assert "check.domains" in msg and "no rows of the source domain 'sport'" in msg
    assert f"{export} has books (80), cloth (80), sports (80)" in msg
    assert "target domain" not in msg
