"""The popularity prior of cold users: chosen by cross-validation over the users in both
domains, added only where a user has no target rows, carried by the bundle's config."""

import json

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from crossrec.bundle import prior
from crossrec.bundle.bundle import BUNDLE, Bundle
from crossrec.bundle.config import BundleConfig, GraphPart
from crossrec.bundle.hybrid import HybridRecommender, log_popularity
from crossrec.bundle.select import add_prior
from crossrec.config import AssemblyConfig, RunOptions
from crossrec.data.sparse import TARGET, domain_matrix
from crossrec.models.item_graph import ItemGraph
from crossrec.models.tower_recommender import ModelRecommender
from crossrec.train.stages import new_model
from tests.conftest import RUN_DATE, tiny_settings
from tests.evaluate.test_baselines import domain_data
from tests.score.test_rerank import small_world

WEIGHTS = [0.0, 0.3, 1.0, 3.0, 10.0]


def linked_world(tmp_path, linked: bool, n: int = 300):
    """Each user buys 2 of 30 source items. ``linked``: their 2 target items are the same
    numbers (source item i -> target item i, a perfect link); otherwise 2 target items drawn
    from a steep popularity curve (item k with weight 1/(k+1)^2), unrelated to the source."""
    rng = np.random.default_rng(7)
    steep = 1.0 / np.arange(1, 31) ** 2
    rows, roles = [], {}
    for u in range(n):
        roles[f"u{u}"] = "train"
        src = rng.choice(30, 2, replace=False)
        tgt = src if linked else rng.choice(30, 2, replace=False, p=steep / steep.sum())
        rows += [(f"u{u}", f"sport:s{i}", "sport", "train") for i in src]
        rows += [(f"u{u}", f"cloth:t{i}", "cloth", "train") for i in tgt]
    return domain_data(tmp_path, rows, roles)


def test_cross_validation_wants_the_prior_only_where_the_link_is_missing(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    unlinked = prior.cross_validate(linked_world(tmp_path / "a", False), 0.5, 0.0, WEIGHTS,
                                    5, 0)
    linked = prior.cross_validate(linked_world(tmp_path / "b", True), 0.5, 0.0, WEIGHTS, 5, 0)
    assert set(unlinked) == set(linked) == set(WEIGHTS)
    # no link: the graph's co-occurrences are noise and popularity is the signal
    assert prior.choose(unlinked) > 0.0 and unlinked[prior.choose(unlinked)] > unlinked[0.0]
    # a perfect link: every pseudo-cold user's targets are their source numbers
    assert prior.choose(linked) == 0.0 and linked[0.0] > 0.9


def test_too_few_users_in_both_domains_gives_no_choice(tmp_path):
    data = linked_world(tmp_path, True, n=9)
    assert prior.cross_validate(data, 0.5, 0.0, WEIGHTS, 5, 0) == {}
    assert prior.choose({}) == 0.0


def test_choose_keeps_the_earlier_weight_on_a_tie():
    assert prior.choose({0.0: 0.2, 1.0: 0.2, 3.0: 0.1}) == 0.0
    assert prior.choose({0.0: 0.1, 1.0: 0.3, 3.0: 0.3}) == 1.0


def test_log_popularity_is_a_z_score_of_log_counts():
    rows = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 0]], dtype=np.float32)
    z = log_popularity(sp.csr_matrix(rows)).numpy()
    logs = np.log1p([3.0, 2.0, 0.0])
    np.testing.assert_allclose(z, (logs - logs.mean()) / logs.std(), rtol=1e-6)
    assert not log_popularity(sp.csr_matrix(np.ones((2, 3)))).any()  # all equal -> zeros


@pytest.fixture
def world(tmp_path):
    data = small_world(tmp_path)
    torch.manual_seed(0)
    return data, new_model(tiny_settings(tmp_path / "d"), data)


def test_the_prior_moves_cold_users_only_and_by_exactly_its_weight(world):
    data, model = world
    graph = ItemGraph.build(data, 0.5, 0.3)
    rec = ModelRecommender(model, data, 20)
    users = np.arange(len(data.users))
    plain = HybridRecommender(rec, graph, 0.7).score(users)
    with_prior = HybridRecommender(rec, graph, 0.7, popularity=2.0).score(users)
    cold = np.array([len(data.train_hist[data.target][u]) == 0 for u in users])
    assert cold.any() and (~cold).any()
    torch.testing.assert_close(with_prior[~cold], plain[~cold], rtol=0, atol=0)
    expected = 0.7 * 2.0 * log_popularity(domain_matrix(data, TARGET))
    torch.testing.assert_close(with_prior[cold] - plain[cold],
                               expected.expand(int(cold.sum()), -1), rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="popularity weight"):
        HybridRecommender(rec, graph, 0.7, popularity=-1.0)


def test_the_bundle_saves_and_loads_its_prior_weight(world, tmp_path):
    data, model = world
    part = GraphPart(alpha=0.5, beta=0.3, weight=0.7, popularity=3.0)
    bundle = Bundle(model, data.vocab, BundleConfig(max_history=20, graph=part),
                    ItemGraph.build(data, 0.5, 0.3), None, {"weight": 0.7})
    folder = bundle.save(tmp_path / "m", RUN_DATE, {}, {})
    assert json.loads((folder / BUNDLE).read_text())["graph"]["popularity"] == 3.0
    rec = Bundle.load(folder).recommender(data)
    assert isinstance(rec, HybridRecommender) and rec.popularity == 3.0
    # a bundle.json written before the prior existed has none
    raw = json.loads((folder / BUNDLE).read_text())
    del raw["graph"]["popularity"]
    assert BundleConfig.model_validate(raw).graph.popularity == 0.0


def test_add_prior_records_what_it_tried_and_can_be_turned_off(tmp_path):
    data = linked_world(tmp_path, False)
    torch.manual_seed(0)
    model = new_model(tiny_settings(tmp_path / "d"), data)
    graph = ItemGraph.build(data, 0.5, 0.0)
    part = GraphPart(alpha=0.5, beta=0.0, weight=1.0)
    run = RunOptions(seed=0, progress=False)
    selection = {"val_ndcg@10": 0.0}
    chosen = add_prior(model, graph, part, selection, data, 20,
                       AssemblyConfig(popularity_weights=WEIGHTS), run)
    record = selection["popularity"]
    assert chosen.popularity == record["weight"] > 0.0
    assert set(record["cv_ndcg@10_tried"]) == {f"popularity={w}" for w in WEIGHTS}
    # the score the reranker must beat stays the fused model's without the prior
    assert selection["val_ndcg@10"] == 0.0 and "val_ndcg@10_with_prior" in record
    off = {"val_ndcg@10": 0.0}
    assert add_prior(model, graph, part, off, data, 20,
                     AssemblyConfig(popularity_weights=[0.0]), run).popularity == 0.0
    assert off["popularity"]["weight"] == 0.0 and off == {"val_ndcg@10": 0.0,
                                                          "popularity": off["popularity"]}
    tower_only = {"val_ndcg@10": 0.0}
    assert add_prior(model, graph, part.model_copy(update={"weight": 0.0}), tower_only, data,
                     20, AssemblyConfig(popularity_weights=WEIGHTS), run).popularity == 0.0
