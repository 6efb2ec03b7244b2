"""Known answer: a cross-domain checkerboard. Users of group A buy source items 0-4 and target
items 0-4, group B the other halves. A cold user (source history only) of group A must get
group-A target items first; popularity cannot know this."""

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from crossrec.data.marts import MartPaths
from crossrec.metrics.protocol import evaluate
from crossrec.models.tower_recommender import ModelRecommender
from crossrec.train.checkpoint import load_model
from crossrec.train.stages import run_stage
from tests.conftest import RUN_DATE, tiny_settings


@pytest.fixture(scope="module")
def checkerboard(tmp_path_factory):
    root = tmp_path_factory.mktemp("checkerboard")
    rng = np.random.default_rng(0)
    rows, split = [], []
    for u in range(240):
        group = u % 2
        role = "cold_test" if u < 40 else "cold_val" if u < 60 else "train"
        split.append((f"u{u}", role))
        for domain in ("sport", "cloth"):
            for i in rng.choice(5, size=3, replace=False) + 5 * group:
                r = "train" if domain == "sport" or role == "train" else role
                rows.append((f"u{u}", f"{domain}:{i}", domain, r))
    ts = datetime(2026, 11, 1, tzinfo=UTC)
    inter = pl.DataFrame(rows, schema=["user_id", "item_id", "domain", "role"], orient="row")
    inter = inter.with_columns(pl.lit(ts).alias("event_ts"))
    inter.write_parquet(root / "mart_interactions.parquet")
    pl.DataFrame(split, schema=["user_id", "user_split"], orient="row").with_columns(
        pl.lit(42).alias("split_seed")).write_parquet(root / "mart_eval_split.parquet")
    marts = MartPaths(root / "mart_interactions.parquet", root / "mart_eval_split.parquet")
    settings = tiny_settings(root / "data", train={"lr": 0.01, "batch_size": 64})
    pre = run_stage("pretrain", settings, marts, RUN_DATE, None, root / "work" / "pre")
    ada = run_stage("adapt", settings, marts, RUN_DATE, pre, root / "work" / "adapt")
    final = run_stage("finetune", settings, marts, RUN_DATE, ada, root / "models")
    return settings, marts, pre, ada, final


def test_cold_users_get_their_groups_target_items(checkerboard):
    settings, marts, *_, final = checkerboard
    data = marts.load(settings.domains.source, settings.domains.target)
    model, _ = load_model(final)
    rec = ModelRecommender(model, data, settings.model.max_history)
    cold = np.array([u for u in range(len(data.users)) if data.user_role[u] == "cold_test"])
    cols, _ = rec.recommend(cold, 5)
    items = data.vocab.item_ids[cols + data.vocab.domain_ranges[1][0]]
    for u, recs in zip(cold, items, strict=True):
        group = int(data.users[u][1:]) % 2
        wanted = {f"cloth:{i + 5 * group}" for i in range(5)}
        assert set(recs) == wanted, (data.users[u], recs)
    assert evaluate(rec, "cold_test")["hr@10"] == 1.0


def test_adapt_logs_discriminator_and_lambda(checkerboard):
    import json

    *_, ada, _ = checkerboard
    history = json.loads((ada / "metrics.json").read_text())["history"]
    assert all(0.0 <= h["disc_acc"] <= 1.0 and "domain_loss" in h for h in history)
    assert history[-1]["lambda"] > history[0]["lambda"] >= 0


def test_checkpoint_roundtrip_is_exact_and_content_addressed(checkerboard, tmp_path):
    settings, marts, pre, _, final = checkerboard
    model, vocab = load_model(final)
    again, _ = load_model(final)
    data = marts.load(settings.domains.source, settings.domains.target)
    users = np.arange(len(data.users))
    a = ModelRecommender(model, data, 20).score(users)
    b = ModelRecommender(again, data, 20).score(users)
    assert (a == b).all()
    assert final.name.startswith("20261122-")
    assert {p.name for p in final.iterdir()} >= {"model.safetensors", "config.json",
                                                 "items.parquet", "metrics.json", "lineage.json"}
    # same seed, same data, same code -> same weights -> the same immutable version
    rerun = run_stage("pretrain", settings, marts, RUN_DATE, None, pre.parent)
    assert rerun == pre


def test_gru_user_tower_learns_the_checkerboard_too(checkerboard, tmp_path):
    _, marts, *_ = checkerboard
    settings = tiny_settings(tmp_path / "data", train={"lr": 0.01, "batch_size": 64},
                             model={"pooling": "gru"})
    pre = run_stage("pretrain", settings, marts, RUN_DATE, None, tmp_path / "pre")
    ada = run_stage("adapt", settings, marts, RUN_DATE, pre, tmp_path / "adapt")
    final = run_stage("finetune", settings, marts, RUN_DATE, ada, tmp_path / "models")
    model, _ = load_model(final)
    assert model.config.pooling == "gru"  # the checkpoint rebuilds the GRU tower
    data = marts.load(settings.domains.source, settings.domains.target)
    rec = ModelRecommender(model, data, settings.model.max_history)
    assert evaluate(rec, "cold_test")["hr@10"] >= 0.9
