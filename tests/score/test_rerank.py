"""Our model with its cold users reranked: what moves, what stays, and the saved version."""

import numpy as np
import polars as pl
import pytest
import torch

from crossrec.bundle.hybrid import HybridRecommender
from crossrec.bundle.rerank import RerankedRecommender, fit_signals
from crossrec.data.domain import DomainData, load_domain_data
from crossrec.data.sparse import interaction_matrix
from crossrec.errors import CorruptModelError
from crossrec.models.cold_signals import SignalsConfig
from crossrec.models.item_graph import ItemGraph
from crossrec.models.reranker import Reranker, RerankerConfig, candidate_table
from tests.conftest import RUN_DATE, tiny_settings

N_USERS, N_COLD = 40, 8


@pytest.fixture
def data(tmp_path) -> DomainData:
    return small_world(tmp_path)


def small_world(tmp_path) -> DomainData:
    """Users with 4 of 12 source items each, the first N_COLD without target rows."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(N_USERS):
        for i in rng.choice(12, 4, replace=False):
            rows.append((f"u{u}", f"sport:s{i}", "sport"))
        if u >= N_COLD:  # the first users have no target rows: cold
            for i in rng.choice(10, 3, replace=False):
                rows.append((f"u{u}", f"cloth:t{i}", "cloth"))
    frame = pl.DataFrame(rows, schema=["user_id", "item_id", "domain"], orient="row")
    frame.with_columns(pl.lit("train").alias("role"),
                       pl.datetime(2026, 11, 1, time_zone="UTC").alias("event_ts"),
                       ).write_parquet(tmp_path / "i.parquet")
    users = sorted({r[0] for r in rows})
    pl.DataFrame({"user_id": users, "user_split": ["train"] * len(users),
                  "split_seed": [1] * len(users)}).write_parquet(tmp_path / "s.parquet")
    return load_domain_data(tmp_path / "i.parquet", tmp_path / "s.parquet", "sport", "cloth")


class BaseScores:
    """Stands in for the hybrid model: a fixed random score matrix."""

    which = "train"

    def __init__(self, data):
        self.data = data
        n = data.vocab.domain_ranges[1][1] - data.vocab.domain_ranges[1][0]
        self.table = torch.from_numpy(np.random.default_rng(1).random((len(data.users), n),
                                                                      dtype=np.float32))

    def score(self, users):
        return self.table[torch.from_numpy(np.asarray(users))].clone()


def reranker(candidates: int = 4) -> Reranker:
    torch.manual_seed(0)
    config = RerankerConfig(candidates=candidates, signals=SignalsConfig(neighbours=5))
    return Reranker(config).eval()


def cold_and_warm(data) -> tuple[np.ndarray, np.ndarray]:
    cold = [u for u in range(len(data.users)) if not len(data.train_hist["cloth"][u])]
    warm = [u for u in range(len(data.users)) if len(data.train_hist["cloth"][u])]
    return np.array(cold), np.array(warm)


def test_cold_users_get_their_candidates_on_top_in_the_rerankers_order(data):
    base, model = BaseScores(data), reranker()
    signals = fit_signals(data, SignalsConfig(neighbours=5))
    rec = RerankedRecommender(base, model, signals)
    cold, warm = cold_and_warm(data)
    assert len(cold) == N_COLD
    users = np.concatenate([warm[:3], cold])  # mixed blocks work
    scores = rec.score(users)
    assert torch.equal(scores[:3], base.score(warm[:3]))  # warm users: the base, unchanged
    got = scores[3:]
    s0, s1 = data.vocab.domain_ranges[0]
    rows = interaction_matrix([data.train_hist["sport"][u] for u in cold], s0, s1 - s0)
    cand, x = candidate_table(signals.evidence(rows), 4)
    with torch.no_grad():
        learned = model(torch.from_numpy(x)).numpy()
    expected_top = np.take_along_axis(cand, np.argsort(-learned, axis=1, kind="stable"), axis=1)
    assert torch.topk(got, 4).indices.numpy().tolist() == expected_top.tolist()
    # below the candidates, the base model's order is kept
    rest = np.ones(got.shape[1], dtype=bool)
    for r in range(len(cold)):
        mask = rest.copy()
        mask[cand[r]] = False
        below = got[r, torch.from_numpy(mask)]
        assert torch.equal(torch.argsort(below, descending=True),
                           torch.argsort(base.score(cold[[r]])[0, torch.from_numpy(mask)],
                                         descending=True))


def test_a_version_with_a_reranker_loads_reranked_and_checks_its_files(data, tmp_path):
    from crossrec.bundle.bundle import Bundle
    from crossrec.bundle.config import BundleConfig, GraphPart
    from crossrec.train.stages import new_model

    model = new_model(tiny_settings(tmp_path / "d"), data)
    graph = ItemGraph.build(data)
    fusion = {"weight": 0.7, "alpha": 0.5, "beta": 0.3}
    config = BundleConfig(max_history=20, graph=GraphPart(alpha=0.5, beta=0.3, weight=0.7),
                          reranker=reranker().config)
    bundle = Bundle(model, data.vocab, config, graph, reranker(), fusion)
    folder = bundle.save(tmp_path / "models", RUN_DATE, {}, {})
    loaded = Bundle.load(folder).reranker
    assert loaded.config == reranker().config
    for k, v in reranker().state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)
    rec = Bundle.load(folder).recommender(data)
    assert isinstance(rec, RerankedRecommender) and isinstance(rec.base, HybridRecommender)
    users = np.arange(len(data.users))
    direct = RerankedRecommender(rec.base, reranker(),
                                 fit_signals(data, SignalsConfig(neighbours=5)))
    assert torch.equal(rec.score(users), direct.score(users))
    # the reranker is part of the version's identity and of its checksums
    plain = Bundle(model, data.vocab, config.model_copy(update={"reranker": None}), graph,
                   None, fusion).save(tmp_path / "models", RUN_DATE, {}, {})
    assert plain != folder and Bundle.load(plain).reranker is None
    blob = bytearray((folder / "reranker.safetensors").read_bytes())
    blob[-1] ^= 0xFF
    (folder / "reranker.safetensors").write_bytes(bytes(blob))
    with pytest.raises(CorruptModelError, match="reranker.safetensors"):
        Bundle.load(folder)


def test_published_rows_of_reranked_users_explain_with_their_own_source_items(data):
    from crossrec.models.tower_recommender import ModelRecommender
    from crossrec.score.publish import recommendation_table
    from crossrec.train.stages import new_model

    tower = ModelRecommender(new_model(tiny_settings(data_dir="unused"), data), data, 20,
                             which="all")
    rec = RerankedRecommender(HybridRecommender(tower, ItemGraph.build(data), 1.0), reranker(),
                              fit_signals(data, SignalsConfig(neighbours=5)))
    cold, _ = cold_and_warm(data)
    table = recommendation_table(rec, 3, "v", users=cold, explain_n=2).to_pylist()
    assert len(table) == 3 * len(cold)
    # the user's own ids, as published
    owned = {data.users[u]: set(data.vocab.local_ids[data.all_hist["sport"][u]]) for u in cold}
    explained = [row for row in table if row["explanation"]]
    assert explained  # the graph links most candidates to some source item
    for row in explained:
        assert set(row["explanation"]) <= owned[row["user_id"]]


def test_the_base_weight_gives_the_learned_model_its_say_in_the_candidates_order(data):
    base, model = BaseScores(data), reranker(candidates=6)
    signals = fit_signals(data, SignalsConfig(neighbours=5))
    cold, _ = cold_and_warm(data)
    s0, s1 = data.vocab.domain_ranges[0]
    rows = interaction_matrix([data.train_hist["sport"][u] for u in cold], s0, s1 - s0)
    cand, _ = candidate_table(signals.evidence(rows), 6)

    def top(weight):
        model.config = model.config.model_copy(update={"base_weight": weight})
        scores = RerankedRecommender(base, model, signals).score(cold)
        return torch.topk(scores, 6).indices.numpy()

    alone, shared, led = top(0.0), top(1.0), top(1000.0)
    # whatever the weight, the same candidates stay on top
    for got in (shared, led):
        assert [set(r) for r in got] == [set(r) for r in cand]
    # a dominant weight orders them as the base model does; none orders them as the network
    base_order = np.take_along_axis(
        cand, np.argsort(-np.take_along_axis(base.score(cold).numpy(), cand, axis=1), axis=1,
                         kind="stable"), axis=1)
    assert led.tolist() == base_order.tolist()
    assert alone.tolist() != base_order.tolist()
    # in between, both have a say: neither order wins outright
    assert shared.tolist() not in (alone.tolist(), base_order.tolist())
