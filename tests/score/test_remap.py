"""A model version from an earlier catalogue scoring today's data (the gate's champion)."""

import numpy as np
import polars as pl
import pytest
import torch

from crossrec.bundle.bundle import Bundle
from crossrec.bundle.config import BundleConfig
from crossrec.bundle.remap import RemappedRecommender, to_vocab
from crossrec.data.domain import DomainData, load_domain_data
from crossrec.ranking.recommender import Recommender
from crossrec.score.publish import recommendation_table
from crossrec.train.stages import new_model
from tests.conftest import RUN_DATE, tiny_settings


def world(tmp_path, name: str, rows: list[tuple[str, str]]) -> DomainData:
    frame = pl.DataFrame([(u, i, i.split(":")[0]) for u, i in rows],
                         schema=["user_id", "item_id", "domain"], orient="row")
    frame.with_columns(pl.lit("train").alias("role"),
                       pl.datetime(2026, 11, 1, time_zone="UTC").alias("event_ts"),
                       ).write_parquet(tmp_path / f"{name}-i.parquet")
    users = sorted({u for u, _ in rows})
    pl.DataFrame({"user_id": users, "user_split": ["train"] * len(users),
                  "split_seed": [1] * len(users)}).write_parquet(tmp_path / f"{name}-s.parquet")
    return load_domain_data(tmp_path / f"{name}-i.parquet", tmp_path / f"{name}-s.parquet",
                            "sport", "cloth")


OLD = [("u0", "sport:a"), ("u0", "cloth:x"), ("u1", "sport:b"), ("u1", "cloth:y")]
# today: new sport items (0 sorts first, shifting every index) and a new cloth item w
# (sorting before x); u2 is new
NEW = OLD + [("u1", "sport:c"), ("u2", "sport:0"), ("u2", "cloth:w")]


class Probe(Recommender):
    """Score = 10 x its own column + number of source items in the user's history."""

    def __init__(self, data):
        self.data = data

    def score(self, users):
        (t0, t1) = self.data.vocab.domain_ranges[1]
        n_src = torch.tensor([len(self.data.train_hist["sport"][u]) for u in users])
        return 10.0 * torch.arange(t1 - t0).float()[None, :] + n_src[:, None].float()


def test_histories_and_columns_are_re_indexed_known_answer(tmp_path):
    old, new = world(tmp_path, "old", OLD), world(tmp_path, "new", NEW)
    moved = to_vocab(new, old.vocab)
    # u1 has sport:b and sport:c today; the old model only knows b
    assert [old.vocab.item_ids[i] for i in moved.train_hist["sport"][1]] == ["sport:b"]
    assert len(moved.train_hist["sport"][2]) == 0 and len(moved.train_hist["cloth"][2]) == 0
    rec = RemappedRecommender(Probe(moved), new)
    # today's catalogue: w (unknown: -inf), x (old column 0), y (old column 1)
    assert list(new.vocab.item_ids[new.vocab.domain_ranges[1][0]:]) == [
        "cloth:w", "cloth:x", "cloth:y"]
    expected = torch.tensor([[-np.inf, 1.0, 11.0], [-np.inf, 1.0, 11.0], [-np.inf, 0.0, 10.0]])
    assert torch.equal(rec.score(np.arange(3)), expected)
    cols, _ = rec.recommend(np.arange(3), 1, exclude=True)
    assert cols[:, 0].tolist() == [2, 1, 2]  # u0 has x -> y; u1 has y -> x; u2 -> y


def test_an_older_version_scores_today_with_explanations(tmp_path):
    old, new = world(tmp_path, "old", OLD), world(tmp_path, "new", NEW)
    model = new_model(tiny_settings(tmp_path / "d"), old)
    with torch.no_grad():  # every source item's dot product with every target item is > 0
        model.item_tower.embedding.weight.uniform_(0.5, 1.0)
    folder = Bundle(model, old.vocab, BundleConfig(max_history=20)).save(
        tmp_path / "models", RUN_DATE, {}, {})
    before = Bundle.load(folder).recommender(old)
    now = Bundle.load(folder).recommender(new)
    assert isinstance(now, RemappedRecommender)
    # u0's history is unchanged, so its scores on the items both days share are the same
    assert torch.allclose(now.score(np.array([0]))[0, 1:], before.score(np.array([0]))[0])
    table = recommendation_table(now, 2, folder.name, explain_n=2)
    assert "cloth:w" not in table["item_id"].to_pylist()
    # each row names the user's own source items the old model knows, in today's ids, as
    # the user wrote them (u2's only source item is new: nothing to explain with)
    owned = {"u0": {"a"}, "u1": {"b"}, "u2": set()}
    for user, why in zip(table["user_id"].to_pylist(), table["explanation"].to_pylist(),
                         strict=True):
        assert set(why or []) == owned[user]


def test_other_domains_are_refused(tmp_path):
    old = world(tmp_path, "old", OLD)
    other = world(tmp_path, "new", NEW)
    other.vocab.domains = ["cloth", "sport"]
    with pytest.raises(ValueError, match="ranks domains"):
        RemappedRecommender(Probe(old), other)
