"""The whole nightly flow under one prefect_test_harness, on a tiny synthetic world."""

import json
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.dataset as ds
import pytest

from crossrec.errors import ValidationFailed
from crossrec.schemas import RECOMMENDATIONS
from tests.conftest import RUN_DATE, tiny_settings


@pytest.fixture(scope="module")
def run(tmp_path_factory, prefect_harness):
    from flows.nightly import nightly

    settings = tiny_settings(tmp_path_factory.mktemp("nightly") / "data")
    first = nightly(run_date=RUN_DATE, settings=settings)
    second = nightly(run_date=RUN_DATE, settings=settings)
    return settings, first, second


def test_publishes_one_partition_with_schema(run):
    settings, first, second = run
    root = settings.data_dir / "lake" / "recommendations"
    assert [p.name for p in root.iterdir()] == ["run_date=2026-11-22"]
    parts = list((root / "run_date=2026-11-22").iterdir())
    assert [p.name for p in parts] == ["domain=cloth"]
    files = list(parts[0].glob("*.parquet"))
    assert len(files) == 1
    assert ds.dataset(files[0]).schema == RECOMMENDATIONS
    assert first["recommendations"] == second["recommendations"]
    assert not list((settings.data_dir / "lake" / ".staging").iterdir())


def test_every_user_gets_top_n_and_nothing_they_have(run):
    settings, *_ = run
    recs = pl.read_parquet(settings.data_dir / "lake" / "recommendations", hive_partitioning=True)
    with duckdb.connect(str(settings.data_dir / "warehouse.duckdb"), read_only=True) as con:
        users = con.sql("SELECT user_id FROM int_user_domains").pl()
        owned = con.sql("SELECT user_id, item_id FROM stg_interactions "
                        "WHERE domain = 'cloth'").pl()
        source_only = con.sql("SELECT user_id FROM int_user_domains WHERE n_target = 0").pl()
    n = settings.score.top_n
    per_user = recs.group_by("user_id").agg(pl.len().alias("n"), pl.col("rank").sort())
    assert per_user.height == users.height
    assert (per_user["n"] == n).all()
    assert all(r.to_list() == list(range(1, n + 1)) for r in per_user["rank"])
    assert source_only.height > 0
    assert set(source_only["user_id"]) <= set(per_user["user_id"])  # cold-start users included
    assert recs.join(owned, on=["user_id", "item_id"], how="inner").height == 0
    assert recs["item_id"].str.starts_with("cloth:").all()
    assert set(recs["domain"].cast(pl.String)) == {"cloth"}


def test_records_metrics_for_model_and_baselines(run):
    _, first, _ = run
    metrics = json.loads(open(first["metrics"]).read())
    methods = {(r["method"], r["role"]) for r in metrics["rows"]}
    for method in ("crossrec", "popularity", "cooccurrence_knn", "cmf_als", "emcdr"):
        assert {(method, role) for role in ("cold_val", "cold_test", "warm_test")} <= methods
    for r in metrics["rows"]:
        assert r["users"] > 0 and 0.0 <= r["ndcg@10"] <= 1.0
    assert metrics["model_version"] in first["model"]
    lineage = json.loads(open(f"{first['model']}/lineage.json").read())
    assert lineage["ingest_dates"] == ["2026-11-22"] and lineage["split_seed"] == 42
    report = open(first["report"]).read()
    assert "| crossrec | cold_test |" in report and "fusion chosen on cold validation" in report
    for png in ("ndcg_by_method.png", "training_curves.png", "discriminator.png"):
        assert f"]({png})" in report  # linked, and written next to the report as a real PNG
        assert (Path(first["report"]).parent / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_failed_validation_stops_before_training_and_publishing(tmp_path, prefect_harness):
    from flows.nightly import nightly

    settings = tiny_settings(tmp_path / "data", validation={"min_rows": 10**9})
    with pytest.raises(ValidationFailed, match="row_count"):
        nightly(run_date=RUN_DATE, settings=settings)
    assert not (settings.data_dir / "models").exists()
    assert not (settings.data_dir / "lake").exists()
