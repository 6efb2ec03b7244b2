"""Baselines of the evaluation protocol (docs/architecture.md) on data with known answers."""

import numpy as np
import polars as pl
import pytest
import torch

from crossrec.data.domain import DomainData, load_domain_data
from crossrec.data.sparse import keep_top_per_row
from crossrec.evaluate.baselines import (
    EMCDR,
    CooccurrenceKNN,
    JointALS,
    Popularity,
    cross_domain_cosine,
)
from crossrec.metrics.protocol import evaluate
from crossrec.ranking.topn import mask_seen_


def domain_data(tmp_path, rows: list[tuple[str, str, str, str]],
                roles: dict[str, str]) -> DomainData:
    """Load (user, item, domain, role) rows through the real mart loader, sport -> cloth."""
    inter = pl.DataFrame(rows, schema=["user_id", "item_id", "domain", "role"], orient="row")
    ts = pl.datetime(2026, 11, 1, time_zone="UTC")
    inter.with_columns(ts.alias("event_ts")).write_parquet(tmp_path / "inter.parquet")
    pl.DataFrame(list(roles.items()), schema=["user_id", "user_split"], orient="row").with_columns(
        pl.lit(42).alias("split_seed")).write_parquet(tmp_path / "split.parquet")
    return load_domain_data(tmp_path / "inter.parquet", tmp_path / "split.parquet",
                            "sport", "cloth")


@pytest.fixture
def tiny(tmp_path):
    """Four overlapping users and one cold user (u4, source item a only; x held out).

    Over u0..u3, source columns a={u0,u1} b={u0,u2} c={u3}, target x={u0,u1} y={u1,u2} z={u3}:
    cos(a,x)=2/(√2·√2)=1, cos(a,y)=cos(b,x)=cos(b,y)=1/2, cos(c,z)=1, all else 0. u4's source
    item c must not count in c's norm (u4 has no target training rows), else cos(c,z)=1/√2.
    """
    hist = {"u0": ("ab", "x"), "u1": ("a", "xy"), "u2": ("b", "y"), "u3": ("c", "z"),
            "u4": ("ac", "")}
    rows = [(u, f"sport:{i}", "sport", "train") for u, (s, _) in hist.items() for i in s]
    rows += [(u, f"cloth:{i}", "cloth", "train") for u, (_, t) in hist.items() for i in t]
    rows.append(("u4", "cloth:x", "cloth", "cold_test"))
    roles = {u: "cold_test" if u == "u4" else "train" for u in hist}
    return domain_data(tmp_path, rows, roles)


def cols(data: DomainData, pos: int, names: str) -> list[int]:
    start = data.vocab.domain_ranges[pos][0]
    prefix = ("sport:", "cloth:")[pos]
    return [data.vocab.index[prefix + n] - start for n in names]


def test_cross_domain_cosine_known_answer(tiny):
    sim = cross_domain_cosine(tiny).toarray()
    a, b, c = cols(tiny, 0, "abc")
    x, y, z = cols(tiny, 1, "xyz")
    expected = {(a, x): 1.0, (a, y): 0.5, (b, x): 0.5, (b, y): 0.5, (c, z): 1.0}
    want = np.zeros((3, 3))
    for (s, t), v in expected.items():
        want[s, t] = v
    np.testing.assert_allclose(sim, want, rtol=1e-6)
    # shrink damps pairs backed by few users: cos(a,x) = 2 / (2 + 1)
    assert cross_domain_cosine(tiny, shrink=1.0)[a, x] == pytest.approx(2 / 3)


def test_neighbours_keep_the_best_per_source_item_ties_to_lower_column(tiny):
    sim = cross_domain_cosine(tiny, neighbours=1)
    assert (sim.getnnz(axis=1) == 1).all()
    a, b, c = cols(tiny, 0, "abc")
    x, y, z = cols(tiny, 1, "xyz")
    assert sim[a, x] == 1.0 and sim[c, z] == 1.0 and sim[b, min(x, y)] == 0.5
    m = torch.rand(6, 9, generator=torch.Generator().manual_seed(0)).numpy()
    import scipy.sparse as sp
    top = keep_top_per_row(sp.csr_matrix(m), 4).toarray()
    assert ((top > 0).sum(1) == 4).all()
    assert (np.sort(top, 1)[:, -4:] == np.sort(m, 1)[:, -4:]).all()


def test_knn_scores_sum_cross_and_within_similarities(tiny):
    u0, u4 = (int(np.flatnonzero(tiny.users == u)[0]) for u in ("u0", "u4"))
    x, y, z = cols(tiny, 1, "xyz")
    # cold u4 (source a, c): x = cos(a,x) = 1, y = 1/2, z = cos(c,z) = 1
    s = CooccurrenceKNN(tiny, neighbours=None, shrink=0.0).score(np.array([u4, u0])).numpy()
    np.testing.assert_allclose(s[0, [x, y, z]], [1.0, 0.5, 1.0], rtol=1e-6)
    # warm u0: source a, b give x = 1.5, y = 1; target x adds cos(x,y) = 1/2 to y (not to x)
    np.testing.assert_allclose(s[1, [x, y, z]], [1.5, 1.5, 0.0], rtol=1e-6)
    s2 = CooccurrenceKNN(tiny, None, 0.0, target_weight=2.0).score(np.array([u0])).numpy()
    np.testing.assert_allclose(s2[0, [x, y, z]], [1.5, 2.0, 0.0], rtol=1e-6)


def test_no_overlapping_users_is_a_clear_error(tmp_path):
    rows = [("u0", "sport:a", "sport", "train"), ("u1", "cloth:x", "cloth", "train")]
    data = domain_data(tmp_path, rows, {"u0": "train", "u1": "train"})
    for make in (cross_domain_cosine, CooccurrenceKNN, JointALS, EMCDR):
        with pytest.raises(ValueError, match="both domains"):
            make(data)


@pytest.fixture(scope="module")
def checkerboard(tmp_path_factory):
    return checkerboard_data(tmp_path_factory.mktemp("checkerboard"))


def checkerboard_data(folder):
    """As in tests/train/test_known_answer.py: group A buys items 0-4 of both domains, group B
    items 5-9; cold users keep their source rows, their target rows are held out."""
    rng = np.random.default_rng(0)
    rows, roles = [], {}
    for u in range(240):
        group = u % 2
        role = "cold_test" if u < 40 else "cold_val" if u < 60 else "train"
        roles[f"u{u}"] = role
        for domain in ("sport", "cloth"):
            for i in rng.choice(5, size=3, replace=False) + 5 * group:
                r = "train" if domain == "sport" or role == "train" else role
                rows.append((f"u{u}", f"{domain}:{i}", domain, r))
    return domain_data(folder, rows, roles)


# the checkerboard has rank 2: more factors only fit each user's own noise
FAST_ALS = {"factors": 2, "iterations": 10, "alpha": 10.0, "threads": 1}
METHODS = {
    "knn": lambda d: CooccurrenceKNN(d),
    "knn_top3": lambda d: CooccurrenceKNN(d, neighbours=3, shrink=1.0),
    "cmf": lambda d: JointALS(d, **FAST_ALS),
    "emcdr_linear": lambda d: EMCDR(d, mapping="linear", **FAST_ALS),
    "emcdr_mlp": lambda d: EMCDR(d, mapping="mlp", hidden=16, epochs=100, **FAST_ALS),
}


@pytest.fixture(scope="module")
def fitted(checkerboard):
    return {name: make(checkerboard) for name, make in METHODS.items()}


@pytest.mark.parametrize("name", METHODS)
def test_cold_users_get_their_groups_target_items_first(checkerboard, fitted, name):
    data, rec = checkerboard, fitted[name]
    cold = np.flatnonzero(data.user_role != "train")
    # 3 neighbours per source item may reach only 3 of the group's 5 items: those come first
    k = 3 if name == "knn_top3" else 5
    top, _ = rec.recommend(cold, k)
    items = data.vocab.item_ids[top + data.vocab.domain_ranges[1][0]]
    for u, recs in zip(cold, items, strict=True):
        group = int(data.users[u][1:]) % 2
        assert set(recs) <= {f"cloth:{i + 5 * group}" for i in range(5)}, (data.users[u], recs)
    assert evaluate(rec, "cold_test")["hr@10"] == 1.0


def test_popularity_cannot_tell_the_groups_apart(checkerboard):
    assert evaluate(Popularity(checkerboard), "cold_test")["ndcg@10"] < 0.9


@pytest.mark.parametrize("name", METHODS)
def test_recommend_excludes_seen_and_batch_equals_single(checkerboard, fitted, name):
    data, rec = checkerboard, fitted[name]
    warm = np.flatnonzero(data.user_role == "train")[:12]
    ids, vals = rec.recommend(warm, 4)
    for i, seen in enumerate(rec.seen_target(warm)):
        assert not set(ids[i]) & set(seen)
        one_ids, one_vals = rec.recommend(warm[i:i + 1], 4)
        np.testing.assert_allclose(one_vals[0], vals[i], rtol=1e-5)
    with_seen, _ = rec.recommend(warm, 4, exclude=False)
    assert any(set(r) & set(s) for r, s in zip(with_seen, rec.seen_target(warm), strict=True))


def test_score_based_recommend_equals_dense_argsort(tiny):
    rec = CooccurrenceKNN(tiny, neighbours=None, shrink=0.0)
    rec.block = 2  # several blocks
    users = np.arange(len(tiny.users))
    dense = mask_seen_(rec.score(users), rec.seen_target(users)).numpy()
    ids, vals = rec.recommend(users, 3)
    for i in range(len(users)):
        order = np.argsort(-dense[i], kind="stable")
        finite = np.isfinite(dense[i, order])
        np.testing.assert_allclose(vals[i][finite], dense[i, order][finite])
        assert (ids[i][~finite] == -1).all() and np.isneginf(vals[i][~finite]).all()
        assert (dense[i, ids[i][finite]] == vals[i][finite]).all()


def test_als_baselines_are_seeded(checkerboard):
    users = np.arange(len(checkerboard.users))
    for make in (JointALS, EMCDR):
        a = make(checkerboard, seed=3, **FAST_ALS).score(users)
        # ALS updates each row independently: the thread count does not change the result
        b = make(checkerboard, seed=3, **{**FAST_ALS, "threads": 2}).score(users)
        assert torch.equal(a, b)
        assert not torch.equal(a, make(checkerboard, seed=4, **FAST_ALS).score(users))
