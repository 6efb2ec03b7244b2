"""Which item graph cold users get and how much popularity prior beside it: chosen by
cross-validation over the users in both domains; the prior added only where a user has no
target rows; both carried by the bundle's config."""

import json

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from pydantic import ValidationError

from crossrec.bundle import crossval
from crossrec.bundle.bundle import BUNDLE, Bundle
from crossrec.bundle.config import BundleConfig, GraphPart
from crossrec.bundle.hybrid import HybridRecommender, log_popularity
from crossrec.bundle.select import choose_graph, fuse
from crossrec.config import AssemblyConfig, RunOptions
from crossrec.data.sparse import TARGET, domain_matrix
from crossrec.models.item_graph import ItemGraph
from crossrec.models.tower_recommender import ModelRecommender
from crossrec.train.stages import new_model
from tests.conftest import RUN_DATE, tiny_settings
from tests.evaluate.test_baselines import domain_data
from tests.score.test_rerank import small_world

WEIGHTS = [0.0, 0.3, 1.0, 3.0, 10.0]
WALK = GraphPart(alpha=0.5, beta=0.0, weight=1.0)


def make_world(tmp_path, link, n: int = 300, val: int = 0):
    """Each user buys 2 of 30 source items and the target items ``link(rng, source items)``;
    the last ``val`` users are cold validation users (their target rows held out)."""
    rng = np.random.default_rng(7)
    rows, roles = [], {}
    for u in range(n):
        role = roles[f"u{u}"] = "cold_val" if u >= n - val else "train"
        src = rng.choice(30, 2, replace=False)
        rows += [(f"u{u}", f"sport:s{i}", "sport", "train") for i in src]
        rows += [(f"u{u}", f"cloth:t{i}", "cloth", role) for i in link(rng, src)]
    return domain_data(tmp_path, rows, roles)


def linked_world(tmp_path, linked: bool, n: int = 300, val: int = 0):
    """``linked``: a user's 2 target items are their source numbers (source item i -> target
    item i, a perfect link); otherwise 2 target items drawn from a steep popularity curve
    (item k with weight 1/(k+1)^2), unrelated to the source."""
    steep = 1.0 / np.arange(1, 31) ** 2
    return make_world(tmp_path, (lambda rng, src: src) if linked else
                      (lambda rng, src: rng.choice(30, 2, replace=False, p=steep / steep.sum())),
                      n, val)


def test_cross_validation_wants_the_prior_only_where_the_link_is_missing(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    unlinked = crossval.cross_validate(linked_world(tmp_path / "a", False), [WALK], WEIGHTS,
                                       5, 0)
    linked = crossval.cross_validate(linked_world(tmp_path / "b", True), [WALK], WEIGHTS, 5, 0)
    assert set(unlinked) == set(linked) == {(0, w) for w in WEIGHTS}
    # no link: the graph's co-occurrences are noise and popularity is the signal
    _, weight = crossval.choose(unlinked)
    assert weight > 0.0 and unlinked[(0, weight)] > unlinked[(0, 0.0)]
    # a perfect link: every pseudo-cold user's targets are their source numbers
    assert crossval.choose(linked) == (0, 0.0) and linked[(0, 0.0)] > 0.9


def test_cross_validation_keeps_the_walk_where_a_cosine_graph_keeps_too_few_neighbours(
        tmp_path):
    # source item i -> target items i and 30 + i: a cosine graph keeping one neighbour per
    # item finds half of a pseudo-cold user's targets, the walk all of them
    data = make_world(tmp_path, lambda rng, src: np.concatenate([src, src + 30]))
    parts = crossval.candidates([0.5], [0.0], [1, 2], 0.0)
    assert [p.kind for p in parts] == ["walk", "cosine", "cosine"]
    scores = crossval.cross_validate(data, parts, [0.0], 5, 0)
    assert scores[(0, 0.0)] > 0.95 and scores[(1, 0.0)] < 0.8
    assert scores[(2, 0.0)] == pytest.approx(scores[(0, 0.0)])  # two neighbours find all
    assert crossval.choose(scores) == (0, 0.0)  # the tie keeps the walk (the earlier)


def test_cross_validation_chooses_the_cosine_graph_where_the_walk_overrates_popularity(
        tmp_path):
    # a perfect link, plus target item 29 bought by half the users whatever their source
    # items: a walk with beta -2 (popularity squared) ranks item 29 first for everyone
    def link(rng, src):
        return np.concatenate([src % 29, [29]]) if rng.random() < 0.5 else src % 29

    data = make_world(tmp_path, link)
    parts = crossval.candidates([1.0], [-2.0], [50], 0.0)
    scores = crossval.cross_validate(data, parts, [0.0], 5, 0)
    assert scores[(1, 0.0)] > scores[(0, 0.0)] + 0.05
    assert crossval.choose(scores) == (1, 0.0)


def test_too_few_users_in_both_domains_gives_no_choice(tmp_path):
    data = linked_world(tmp_path, True, n=9)
    assert crossval.cross_validate(data, [WALK], WEIGHTS, 5, 0) == {}
    assert crossval.choose({}) is None


def test_choose_keeps_the_earlier_choice_on_a_tie():
    assert crossval.choose({(0, 0.0): 0.2, (0, 1.0): 0.2, (1, 0.0): 0.1}) == (0, 0.0)
    assert crossval.choose({(0, 0.0): 0.1, (0, 1.0): 0.3, (1, 0.0): 0.3}) == (0, 1.0)


def test_a_graph_part_takes_the_settings_of_its_kind():
    assert GraphPart(alpha=0.5, beta=0.0, weight=1.0).label() == "walk alpha=0.5 beta=0.0"
    cosine = GraphPart(kind="cosine", neighbours=5, shrink=2.0, weight=1.0)
    assert cosine.label() == "cosine neighbours=5 shrink=2.0"
    for wrong in ({"alpha": 0.5, "weight": 1.0},
                  {"alpha": 0.5, "beta": 0.0, "shrink": 2.0, "weight": 1.0},
                  {"kind": "cosine", "neighbours": 5, "weight": 1.0},
                  {"kind": "cosine", "alpha": 0.5, "shrink": 2.0, "weight": 1.0}):
        with pytest.raises(ValidationError, match="graph takes"):
            GraphPart.model_validate(wrong)


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


def test_the_bundle_saves_and_loads_its_graph_and_prior(world, tmp_path):
    data, model = world
    part = GraphPart(kind="cosine", neighbours=5, shrink=2.0, weight=0.7, popularity=3.0)
    bundle = Bundle(model, data.vocab, BundleConfig(max_history=20, graph=part),
                    part.build(data), None, {"weight": 0.7})
    folder = bundle.save(tmp_path / "m", RUN_DATE, {}, {})
    saved = json.loads((folder / BUNDLE).read_text())["graph"]
    assert saved["kind"] == "cosine" and saved["popularity"] == 3.0
    loaded = Bundle.load(folder)
    assert loaded.config.graph == part
    for mine, theirs in ((bundle.graph.source_to_target, loaded.graph.source_to_target),
                         (bundle.graph.target_to_target, loaded.graph.target_to_target)):
        assert (mine != theirs).nnz == 0
    rec = loaded.recommender(data)
    assert isinstance(rec, HybridRecommender) and rec.popularity == 3.0
    # a bundle.json written before the prior and the graph's kind existed: a walk, no prior
    old = {"alpha": 0.5, "beta": 0.3, "weight": 0.7}
    assert BundleConfig.model_validate({"max_history": 20, "graph": old}).graph == GraphPart(
        kind="walk", alpha=0.5, beta=0.3, weight=0.7, popularity=0.0)


def test_choose_graph_and_fuse_record_what_they_tried(tmp_path):
    data = linked_world(tmp_path, False, val=40)
    torch.manual_seed(0)
    model = new_model(tiny_settings(tmp_path / "d"), data)
    run = RunOptions(seed=0, progress=False)
    cfg = AssemblyConfig(graph_alphas=[0.5], graph_betas=[0.0], graph_neighbours=[5],
                         popularity_weights=WEIGHTS, fusion_weights=[0.0, 1.0])
    parts, record = choose_graph(data, cfg, run)
    assert len(parts) == 1 and parts[0].popularity == record["popularity"] > 0.0
    assert parts[0].label() == record["graph"]
    assert set(record["cv_ndcg@10_tried"]) == {f"{g} popularity={w}" for w in WEIGHTS for g in
                                               ("walk alpha=0.5 beta=0.0",
                                                "cosine neighbours=5 shrink=2.0")}
    assert record["cv_ndcg@10"] == max(record["cv_ndcg@10_tried"].values())
    graph, part, selection = fuse(model, data, parts, 20, cfg, False)
    tried = selection["val_ndcg@10_tried"]
    assert set(tried) == {f"{record['graph']} weight={w}" for w in (0.0, 1.0)}
    # the score the reranker must beat is the fused model's without the prior
    assert selection["val_ndcg@10"] == max(tried.values())
    if part.weight > 0:
        assert "val_ndcg@10_with_prior" in selection and part.popularity > 0.0
    # the tower alone has no graph score to put a prior beside
    _, alone, _ = fuse(model, data, parts, 20, cfg.model_copy(update={"fusion_weights": [0.0]}),
                       False)
    assert alone.weight == 0.0 and alone.popularity == 0.0
    # one graph and one prior weight: nothing to cross-validate
    fixed = cfg.model_copy(update={"graph_neighbours": [], "popularity_weights": [0.0]})
    parts, record = choose_graph(data, fixed, run)
    assert parts == [GraphPart(alpha=0.5, beta=0.0, weight=1.0)] and "nothing" in record["reason"]


def test_too_few_users_in_both_domains_leave_the_graph_to_the_validation_users(tmp_path):
    data = linked_world(tmp_path, True, n=9)
    cfg = AssemblyConfig(graph_alphas=[0.5], graph_betas=[0.0, 0.3], graph_neighbours=[5])
    parts, record = choose_graph(data, cfg, RunOptions(seed=0, progress=False))
    assert [p.label() for p in parts] == ["walk alpha=0.5 beta=0.0", "walk alpha=0.5 beta=0.3",
                                          "cosine neighbours=5 shrink=2.0"]
    assert all(p.popularity == 0.0 for p in parts) and "fewer than 10" in record["reason"]


def test_the_reranker_must_beat_the_fused_model_with_and_without_its_prior(tmp_path):
    from crossrec.bundle.select import select_reranker

    data = linked_world(tmp_path, False, val=60)
    torch.manual_seed(0)
    model = new_model(tiny_settings(tmp_path / "d"), data)
    part = GraphPart(alpha=0.5, beta=0.0, weight=1.0, popularity=1.0)
    base = Bundle(model, data.vocab, BundleConfig(max_history=20, graph=part),
                  part.build(data), None, {})
    run = RunOptions(seed=0, progress=False)

    def judged(margin):
        cfg = AssemblyConfig(rerank_epochs=2, rerank_base_weights=[0.0], rerank_margin=margin)
        return select_reranker(base, data, cfg, run)[1]

    anyway = judged(0.0)
    margins = anyway["against_fused"]
    assert set(margins) == {"with_prior", "without_prior"}
    assert all(m["paired_se"] > 0 for m in margins.values())
    assert anyway["used"] == all(m["gain"] > 0 for m in margins.values())
    strict = judged(1e9)  # no real gain is a billion standard errors
    assert not strict["used"] and strict["against_fused"] == margins
    # without a prior there is one fused model to beat
    plain = part.model_copy(update={"popularity": 0.0})
    base = Bundle(model, data.vocab, BundleConfig(max_history=20, graph=plain),
                  plain.build(data), None, {})
    assert set(judged(0.0)["against_fused"]) == {"without_prior"}
