"""The whole nightly flow under one prefect_test_harness, on a tiny synthetic world."""

import json
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.dataset as ds
import pytest

from crossrec.errors import ValidationFailed
from crossrec.runners import task_runner
from crossrec.schemas import RECOMMENDATIONS
from tests.conftest import RUN_DATE, tiny_settings


@pytest.fixture(scope="module")
def run(tmp_path_factory, prefect_harness):
    from flows.nightly import nightly

    # small shards: the scoring stage maps over several tasks and writes several parts
    settings = tiny_settings(tmp_path_factory.mktemp("nightly") / "data",
                             score={"top_n": 10, "shard_users": 128})
    first = nightly(run_date=RUN_DATE, settings=settings)
    second = nightly(run_date=RUN_DATE, settings=settings)
    return settings, first, second


def test_publishes_one_partition_with_schema(run):
    settings, first, second = run
    root = settings.data_dir / "lake" / "recommendations"
    assert [p.name for p in root.iterdir()] == ["run_date=2026-11-22"]
    parts = list((root / "run_date=2026-11-22").iterdir())
    assert [p.name for p in parts] == ["domain=cloth"]
    files = sorted(parts[0].glob("*.parquet"))
    n_users = pl.read_parquet(Path(first["marts"]) / "mart_eval_split.parquet").height
    assert [f.name for f in files] == [f"part-{i:05d}.parquet"
                                       for i in range(-(-n_users // 128))]
    assert all(ds.dataset(f).schema == RECOMMENDATIONS for f in files)
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


def test_explanations_name_source_items_the_user_has(run):
    settings, *_ = run
    recs = pl.read_parquet(settings.data_dir / "lake" / "recommendations")
    with duckdb.connect(str(settings.data_dir / "warehouse.duckdb"), read_only=True) as con:
        # the user's own ids: the warehouse keys items as '<domain>:<id>'
        owned = con.sql("SELECT user_id, substr(item_id, length(domain) + 2) AS item_id "
                        "FROM stg_interactions WHERE domain = 'sport'").pl()
    explained = recs.filter(pl.col("explanation").is_not_null())
    assert explained.height > 0.5 * recs.height
    assert explained["explanation"].list.len().max() <= settings.score.explain
    pairs = explained.select("user_id", pl.col("explanation").alias("item_id")).explode("item_id")
    assert pairs.join(owned, on=["user_id", "item_id"], how="anti").height == 0


def test_dask_task_runner_publishes_identical_files(run):
    """The scoring subflow on a LocalCluster of 2 worker processes writes byte-identical
    parts to the thread pool's."""
    pytest.importorskip("prefect_dask")
    from datetime import date

    from crossrec.data.marts import MartPaths
    from flows.nightly import score_and_publish

    settings, first, _ = run
    marts_dir = Path(first["marts"])
    marts = MartPaths(marts_dir / "mart_interactions.parquet",
                      marts_dir / "mart_eval_split.parquet",
                      marts_dir / "mart_item_features.parquet")
    dask_settings = settings.model_copy(
        update={"run": settings.run.model_copy(update={"task_runner": "dask", "workers": 2})})
    other_day = date(2026, 11, 23)
    runner = task_runner(dask_settings)
    assert type(runner).__name__ == "DaskTaskRunner"
    final = score_and_publish.with_options(task_runner=runner)(
        dask_settings, marts, Path(first["model"]), other_day)
    threads = Path(first["recommendations"])
    assert sorted(p.name for p in Path(final).iterdir()) == sorted(
        p.name for p in threads.iterdir())
    for part in threads.iterdir():
        assert (Path(final) / part.name).read_bytes() == part.read_bytes()


def test_training_stages_report_progress_artifacts(run):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterType

    with get_client(sync_client=True) as client:
        progress = client.read_artifacts(
            artifact_filter=ArtifactFilter(type=ArtifactFilterType(any_=["progress"])))
    done = {a.description: a.data for a in progress}
    for stage in ("pretrain", "adapt", "finetune"):
        assert done.get(f"{stage} epochs") == 100.0


def test_records_metrics_for_model_and_baselines(run):
    _, first, _ = run
    metrics = json.loads(open(first["metrics"]).read())
    methods = {(r["method"], r["role"]) for r in metrics["rows"]}
    tuned = ("cooc_pop_blend", "rp3beta", "kernel_ridge", "user_knn")
    for method in ("crossrec", "popularity", "cooccurrence_knn", "cmf_als", "emcdr", *tuned):
        assert {(method, role) for role in ("cold_val", "cold_test", "warm_test")} <= methods
    for r in metrics["rows"]:
        assert r["users"] > 0 and 0.0 <= r["ndcg@10"] <= 1.0 and r["fit_s"] >= 0
        assert ("chosen" in r) == (r["method"] in tuned)
    assert metrics["model_version"] in first["model"]
    lineage = json.loads(open(f"{first['model']}/lineage.json").read())
    assert lineage["ingest_dates"] == ["2026-11-22"] and lineage["split_seed"] == 42
    report = open(first["report"]).read()
    assert "| crossrec | cold_test |" in report
    assert "Item graph: " in report and "fusion weight" in report
    assert "Baselines' hyper-parameters chosen on cold validation users: cooc_pop_blend weight" \
        in report
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


def test_click_loop_ingests_simulated_feedback_into_training_rows(run):
    """Clicks simulated on the published lists go through the ingestion flow (duplicates,
    late and malformed events included) and come back as training interactions."""
    from datetime import UTC, datetime, timedelta

    import pyarrow.parquet as pq

    from crossrec.clicks.ingest import click_paths
    from crossrec.collect.clicksim import ClickSimConfig, simulate, write_jsonl
    from crossrec.collect.synthetic import SyntheticWorld
    from crossrec.features.build import build_features
    from flows.ingest_clicks import ingest_clicks

    settings, first, _ = run
    world = SyntheticWorld(settings.sources[0], settings.domains.source, settings.domains.target)
    recs = pq.read_table(sorted(Path(first["recommendations"]).iterdir()))
    day = RUN_DATE + timedelta(days=1)
    sim = simulate(world, recs, RUN_DATE, day, ClickSimConfig(duplicate_rate=0.05,
                                                              late_rate=0.1, malformed_rate=0.02))
    write_jsonl(sim, click_paths(settings, day).drop / "clicks.jsonl")
    as_of = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # the night after the clicks
    out = ingest_clicks(day, settings=settings, as_of=as_of)
    totals = out["summary"]["totals"]
    assert totals["kept"] == sim.events.num_rows
    assert totals["quarantined"] == sim.n_duplicates + sim.n_malformed
    assert totals["late"] == sim.n_late > 0
    assert totals["by_event_type"] == {k: v for k, v in sim.expected_counts.items() if v}
    assert "## By rank" in Path(out["feedback"]).read_text()
    # a second delivery of the same file adds nothing
    again = ingest_clicks(day, settings=settings, as_of=as_of)
    assert again["summary"]["totals"]["kept"] == 0

    build = build_features(settings, day + timedelta(days=1))
    with duckdb.connect(str(build.warehouse), read_only=True) as con:
        from_clicks = con.execute("SELECT count(*) FROM stg_interactions "
                                  "WHERE source = 'clicks'").fetchall()[0][0]
        weak = con.execute("SELECT count(*) FROM mart_weak_negatives").fetchall()[0][0]
        taken = con.execute("SELECT count(*) FROM mart_weak_negatives "
                            "JOIN stg_interactions USING (user_id, item_id)").fetchall()[0][0]
    assert weak > 0 and taken == 0  # shown and not taken: tomorrow's weak negatives
    assert (Path(build.exports["mart_weak_negatives"])).is_file()
    positives = pl.from_arrow(sim.events).filter(pl.col("event_type") != "impression")
    assert 0 < from_clicks <= positives.select("user_id", "item_id").n_unique()


def test_the_version_carries_its_whole_training_history(run, tmp_path):
    """Pretraining, adaptation (discriminator and probe accuracy) and fine-tuning are in the
    version's own metrics.json, so the report needs nothing from work/."""
    import shutil

    from crossrec.evaluate.report import stage_histories

    settings, first, _ = run
    version = Path(first["model"])
    stages = json.loads((version / "metrics.json").read_text())["stages"]
    assert [s["stage"] for s in stages] == ["pretrain", "adapt", "finetune"]
    epochs = {s["stage"]: len(s["history"]) for s in stages}
    assert epochs["pretrain"] == settings.train.pretrain_epochs and epochs["adapt"] >= 1
    assert all(0.0 <= e["disc_acc"] <= 1.0 and 0.0 <= e["probe_acc"] <= 1.0
               for e in stages[1]["history"])
    # a copy of the version alone, while the work/ checkpoints it was trained through are gone
    alone = tmp_path / version.name
    shutil.copytree(version, alone)
    work, hidden = settings.data_dir / "work", tmp_path / "work-away"
    work.rename(hidden)
    try:
        assert list(stage_histories(alone)) == ["pretrain", "adapt", "finetune"]
        assert stage_histories(alone)["adapt"] == stages[1]["history"]
    finally:
        hidden.rename(work)


def test_the_published_model_is_refit_on_every_row_and_judged_held_out(run):
    """The version that ships was trained on every row; the metrics, the report and the gate
    are the held-out version's, and name it."""
    from crossrec.bundle.bundle import Bundle, held_out
    from crossrec.data.marts import MartPaths
    from crossrec.metrics.protocol import evaluate

    settings, first, second = run
    shipped, selection = Path(first["published_model"]), Path(first["selection_model"])
    assert shipped == Path(first["model"]) != selection and held_out(shipped) == selection
    marts = MartPaths.from_dir(Path(first["marts"]))
    every = marts.load("sport", "cloth", every_row=True)
    assert list(Bundle.load(shipped).vocab.item_ids) == list(every.vocab.item_ids)
    metrics = json.loads(open(first["metrics"]).read())
    assert metrics["model_version"] == shipped.name
    assert metrics["evaluated_version"] == selection.name
    held = marts.load("sport", "cloth")
    ours = {r["role"]: r for r in metrics["rows"] if r["method"] == "crossrec"}
    for role in ("cold_val", "cold_test"):
        assert ours[role]["ndcg@10"] == evaluate(Bundle.load(selection).recommender(held),
                                                 role)["ndcg@10"]
    assert f"held-out version `{selection.name}`" in open(first["report"]).read()
    # the second run judged tonight's refit against the first's through their held-out ones
    gate = json.loads((Path(second["report"]).parent / "gate.json").read_text())
    assert gate["accepted"] and gate["published_model"] == Path(second["model"]).name
    refit_work = settings.data_dir / "work" / "run_date=2026-11-22"
    assert {"pretrain-refit", "adapt-refit", "finetune-refit"} <= {
        p.name for p in refit_work.iterdir()}


def test_without_refit_the_held_out_version_is_published(tmp_path, prefect_harness):
    from crossrec.bundle.bundle import held_out
    from flows.nightly import nightly

    settings = tiny_settings(tmp_path / "data", train={"refit": False})
    out = nightly(run_date=RUN_DATE, settings=settings)
    assert out["published_model"] == out["model"] == out["selection_model"]
    assert held_out(Path(out["model"])) == Path(out["model"])
    assert not (settings.data_dir / "work" / "run_date=2026-11-22" / "finetune-refit").exists()
    assert "refit" not in json.loads((Path(out["model"]) / "metrics.json").read_text())
