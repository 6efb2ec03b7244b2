"""``[model] init = "als"``: the untrained tower is the ALS fold-in of a user's history.

Known answer on a checkerboard (group A buys source and target items 0-29, group B 30-59):
before any training step, cold users (source history only) get their own group's target items
first, which a randomly initialised tower cannot do. (The fold-in leaves out ALS's per-user
confidence term, which is small against ``YᵀY`` only when a user holds a small share of the
catalogue: hence 60 items a domain, not 10.)"""

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest
import torch

from crossrec.data.marts import MartPaths
from crossrec.metrics.protocol import evaluate
from crossrec.models.factor_init import (
    INIT_STD,
    calibrate_temperature,
    factor_tables,
    initialise_from_factors,
)
from crossrec.models.tower_recommender import ModelRecommender
from crossrec.train.stages import new_model
from tests.conftest import tiny_settings

ITEMS = 30
"""Items per group and domain."""


@pytest.fixture(scope="module")
def checkerboard(tmp_path_factory):
    root = tmp_path_factory.mktemp("factor-init")
    rng = np.random.default_rng(0)
    rows, split = [], []
    for u in range(400):
        group = u % 2
        role = "cold_test" if u < 40 else "cold_val" if u < 60 else "train"
        split.append((f"u{u}", role))
        for domain in ("sport", "cloth"):
            for i in rng.choice(ITEMS, size=6, replace=False) + ITEMS * group:
                r = "train" if domain == "sport" or role == "train" else role
                rows.append((f"u{u}", f"{domain}:{i}", domain, r))
    ts = datetime(2026, 11, 1, tzinfo=UTC)
    pl.DataFrame(rows, schema=["user_id", "item_id", "domain", "role"], orient="row").with_columns(
        pl.lit(ts).alias("event_ts")).write_parquet(root / "mart_interactions.parquet")
    pl.DataFrame(split, schema=["user_id", "user_split"], orient="row").with_columns(
        pl.lit(42).alias("split_seed")).write_parquet(root / "mart_eval_split.parquet")
    marts = MartPaths(root / "mart_interactions.parquet", root / "mart_eval_split.parquet")
    return marts.load("sport", "cloth")


def untrained(data, init):
    settings = tiny_settings(data_dir="unused", model={"dim": 4, "init": init},
                             run={"threads": 1, "progress": False})
    return new_model(settings, data)


def test_untrained_als_tower_gives_cold_users_their_groups_items(checkerboard):
    data = checkerboard
    rec = ModelRecommender(untrained(data, "als"), data, 20)
    cold = np.flatnonzero(data.user_role == "cold_test")
    assert own_group_share(rec, cold) >= 0.95  # measured 0.98
    # a random start knows nothing yet: about half of its top items are the other group's
    random = ModelRecommender(untrained(data, "random"), data, 20)
    assert own_group_share(random, cold) < 0.75  # measured 0.57
    assert evaluate(random, "cold_test")["ndcg@10"] < evaluate(rec, "cold_test")["ndcg@10"]


def own_group_share(rec, users):
    """Share of the users' top-10 target items that are their own group's."""
    data = rec.data
    cols, _ = rec.recommend(users, 10)
    ids = data.vocab.item_ids[cols + data.vocab.domain_ranges[1][0]]
    groups = np.array([int(u[1:]) % 2 for u in data.users[users]])[:, None]
    return float(np.mean(np.vectorize(lambda i: int(i.split(":")[1]) // ITEMS)(ids) == groups))


def test_the_user_vector_is_the_mean_of_the_history_table(checkerboard):
    data = checkerboard
    history, candidates = factor_tables(data, 4, 1.0, seed=0, threads=1)
    assert not history[0].any() and not candidates[0].any()  # padding
    for table in (history, candidates):
        assert np.sqrt(np.mean(table[1:] ** 2)) == pytest.approx(INIT_STD, rel=1e-4)
    model = untrained(data, "als")
    # the tables are ALS's, up to the one scale the temperature calibration applied to both
    table = model.user_tower.item_embedding.weight.detach()
    scale = float(table[1:].norm() / np.linalg.norm(history[1:]))
    assert torch.allclose(table, torch.from_numpy(history) * scale, atol=1e-6)
    assert torch.allclose(model.item_tower.embedding.weight.detach(),
                          torch.from_numpy(candidates) * scale, atol=1e-6)
    hist = data.history_tensor(np.arange(10), ("sport", "cloth"), 20)
    with torch.no_grad():
        users = model.encode_users(hist)
    for row, items in zip(users, hist, strict=True):
        real = items[items != 0]
        assert torch.allclose(row, table[real].mean(dim=0), atol=1e-6)


def test_tables_of_the_wrong_shape_are_refused(checkerboard):
    model = untrained(checkerboard, "random")
    n = model.config.n_items + 1
    with pytest.raises(ValueError, match="the model needs"):
        initialise_from_factors(model, np.zeros((n, 3), np.float32), np.zeros((n, 4), np.float32))


def cold_case_loss(model, data, factor: float = 1.0) -> float:
    """Cross-entropy over the target catalogue of every training user's target items given
    their source history alone, with the logits multiplied by ``factor``."""
    users = np.array([u for u in range(len(data.users)) if data.user_role[u] == "train"])
    with torch.no_grad():
        vectors = model.encode_users(data.history_tensor(users, ("sport",), 20))
        logits = model.logits(vectors, "cloth") * factor
    start = data.vocab.domain_ranges[1][0]
    rows = [(r, i - start) for r, u in enumerate(users) for i in data.train_hist["cloth"][u]]
    r, c = map(torch.tensor, zip(*rows, strict=True))
    return float(torch.nn.functional.cross_entropy(logits[r], c))


def test_the_temperature_is_calibrated_to_the_training_rows_without_reranking(checkerboard):
    data = checkerboard
    settings = tiny_settings(data_dir="unused", model={"dim": 4}, run={"threads": 1})
    plain = new_model(settings, data)  # random init, only to take the shapes from
    history, candidates = factor_tables(data, 4, 1.0, seed=0, threads=1)
    initialise_from_factors(plain, history, candidates)
    before = cold_case_loss(plain, data)
    calibrated = initialise_from_factors(new_model(settings, data), history, candidates)
    scale = calibrate_temperature(calibrated, data, 20, seed=0)
    assert scale > 10  # at the random init's scale the softmax is nearly uniform
    after = cold_case_loss(calibrated, data)
    # measured 4.09 (= ln 60: uniform over the catalogue) -> 3.61 nats at a scale of ~700
    assert after < before - 0.3
    # the calibrated scale is the loss's minimum along the scale, up to sampling the pairs
    assert after <= min(cold_case_loss(calibrated, data, f) for f in (0.7, 1.4)) + 1e-3
    cold = np.flatnonzero(data.user_role == "cold_test")
    ranked = [ModelRecommender(m, data, 20).recommend(cold, 10)[0] for m in (plain, calibrated)]
    assert np.array_equal(*ranked)
