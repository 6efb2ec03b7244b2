"""The model's item graph: hand-computed random-walk weights, and fusion with the towers."""

import math

import numpy as np
import polars as pl
import pytest
import torch

from crossrec.bundle.hybrid import HybridRecommender, standardise
from crossrec.data.domain import DomainData, load_domain_data
from crossrec.models.item_graph import ItemGraph

# u0: sport s0, cloth t0 | u1: sport s0 s1, cloth t1 | u2: sport s1 | u3: cloth t1
HISTORIES = {"u0": ("0", "0"), "u1": ("01", "1"), "u2": ("1", ""), "u3": ("", "1")}


@pytest.fixture
def data(tmp_path) -> DomainData:
    rows = [(u, f"sport:s{i}", "sport") for u, (s, _) in HISTORIES.items() for i in s]
    rows += [(u, f"cloth:t{i}", "cloth") for u, (_, t) in HISTORIES.items() for i in t]
    frame = pl.DataFrame(rows, schema=["user_id", "item_id", "domain"], orient="row")
    frame.with_columns(pl.lit("train").alias("role"),
                       pl.datetime(2026, 11, 1, time_zone="UTC").alias("event_ts"),
                       ).write_parquet(tmp_path / "i.parquet")
    pl.DataFrame({"user_id": list(HISTORIES), "user_split": ["train"] * 4,
                  "split_seed": [1] * 4}).write_parquet(tmp_path / "s.parquet")
    return load_domain_data(tmp_path / "i.parquet", tmp_path / "s.parquet", "sport", "cloth")


def test_random_walk_weights_known_answer(data):
    # alpha=1, beta=0: W[s,t] = sum_v P(s->v) P(v->t); degrees s0:2 s1:2, u0:2 u1:3
    g = ItemGraph.build(data, alpha=1.0, beta=0.0)
    st = g.source_to_target.toarray()
    assert st[0, 0] == pytest.approx(1 / 2 * 1 / 2)  # s0 -> u0 -> t0
    assert st[0, 1] == pytest.approx(1 / 2 * 1 / 3)  # s0 -> u1 -> t1
    assert st[1, 0] == 0.0  # nobody with s1 bought t0
    assert st[1, 1] == pytest.approx(1 / 2 * 1 / 3)  # s1 -> u1 -> t1 (u2 bought no target)
    assert np.diag(g.target_to_target.toarray()).tolist() == [0.0, 0.0]


def test_alpha_flattens_and_beta_discounts_popular_targets(data):
    g = ItemGraph.build(data, alpha=0.5, beta=1.0)
    st = g.source_to_target.toarray()
    # t1 has 2 buyers (u1, u3): beta=1 divides by 2; alpha=0.5 takes square roots
    assert st[0, 0] == pytest.approx(math.sqrt(1 / 2) * math.sqrt(1 / 2))
    assert st[0, 1] == pytest.approx(math.sqrt(1 / 2) * math.sqrt(1 / 3) / 2)


def test_negative_beta_favours_popular_targets(data):
    # alpha=1, beta=-1 multiplies by the buyers: t0 has 1 (u0), t1 has 2 (u1, u3)
    st = ItemGraph.build(data, alpha=1.0, beta=-1.0).source_to_target.toarray()
    assert st[0, 0] == pytest.approx(1 / 2 * 1 / 2)
    assert st[0, 1] == pytest.approx(1 / 2 * 1 / 3 * 2)
    # beta=0 ranks t0 first for a user with s0 (1/4 > 1/6); the popularity boost flips it
    assert st[0, 1] > st[0, 0]


class ConstantTower:
    """Stands in for the two-tower recommender: prefers t1 for everyone."""

    which = "train"

    def __init__(self, data):
        self.data = data

    def score(self, users):
        return torch.tensor([[0.0, 1.0]]).repeat(len(users), 1)


def test_fusion_weight_moves_the_ranking_from_tower_to_graph(data):
    g = ItemGraph.build(data, alpha=1.0, beta=0.0)
    u0 = np.array([0])  # graph: s0 -> t0 (1/4) beats t1 (1/6); the tower says t1
    tower = ConstantTower(data)
    assert HybridRecommender(tower, g, 0.0).score(u0).argmax().item() == 1
    assert HybridRecommender(tower, g, 1.0).score(u0).argmax().item() == 0
    with pytest.raises(ValueError, match="fusion weight"):
        HybridRecommender(tower, g, 1.5)


def test_standardise_rows():
    z = standardise(torch.tensor([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]]))
    assert torch.allclose(z[0], torch.tensor([-1.0, 0.0, 1.0]))
    assert z[1].tolist() == [0.0, 0.0, 0.0]


def test_a_hybrid_version_carries_its_graph_and_weight(data, tmp_path):
    from crossrec.bundle.bundle import Bundle
    from crossrec.bundle.config import BundleConfig, GraphPart
    from crossrec.train.stages import new_model
    from tests.conftest import RUN_DATE, tiny_settings

    model = new_model(tiny_settings(tmp_path / "d"), data)
    graph = ItemGraph.build(data, alpha=0.5, beta=0.3)
    fusion = {"weight": 0.7, "alpha": 0.5, "beta": 0.3}
    config = BundleConfig(max_history=20, graph=GraphPart(alpha=0.5, beta=0.3, weight=0.7))
    folder = Bundle(model, data.vocab, config, graph, selection=fusion).save(
        tmp_path / "models", RUN_DATE, {}, {})
    loaded = Bundle.load(folder)
    assert loaded.selection == fusion and loaded.config == config
    again = loaded.graph
    assert (again.source_to_target != graph.source_to_target).nnz == 0
    assert (again.target_to_target != graph.target_to_target).nnz == 0
    rec = loaded.recommender(data)
    assert isinstance(rec, HybridRecommender) and rec.weight == 0.7
    users = np.arange(len(data.users))
    assert torch.equal(rec.score(users), HybridRecommender(rec.model_rec, graph, 0.7).score(users))
    # the graph is part of the version's identity: another weight is another version
    other_config = config.model_copy(update={"graph": GraphPart(alpha=0.5, beta=0.3, weight=0.5)})
    other = Bundle(model, data.vocab, other_config, graph, selection=fusion).save(
        tmp_path / "models", RUN_DATE, {}, {})
    assert other != folder


def test_cosine_weights_known_answer(data):
    from crossrec.data.sparse import SOURCE, TARGET, domain_matrix
    from crossrec.models.item_graph import cosine_weights

    xs, xt = domain_matrix(data, SOURCE), domain_matrix(data, TARGET)
    # over the users in both domains (u0, u1): s0={u0,u1} s1={u1}, t0={u0} t1={u1}; u2's s1
    # does not count (no target rows). Within the target, t0={u0} and t1={u1,u3} never meet.
    st, tt = cosine_weights(xs, xt, None, 0.0)
    half = 1 / math.sqrt(2)
    np.testing.assert_allclose(st.toarray(), [[half, half], [0.0, 1.0]], rtol=1e-6)
    assert tt.nnz == 0
    # one neighbour per item: s0's tie keeps the lower column; shrink damps every pair
    st, _ = cosine_weights(xs, xt, 1, 1.0)
    np.testing.assert_allclose(st.toarray(), [[1 / (math.sqrt(2) + 1), 0.0], [0.0, 0.5]],
                               rtol=1e-6)
