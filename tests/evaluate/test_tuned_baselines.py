"""The baselines tuned on cold_val: known answers, the grid search itself, and that the cold
test users never take part in it."""

import numpy as np
import pytest
import torch

from crossrec.data.domain import DomainData
from crossrec.evaluate.baselines import CoocPopBlend, KernelRidge, RP3beta, UserKNN
from crossrec.evaluate.baselines.blend import zscore_rows
from crossrec.evaluate.baselines.kernel_ridge import conjugate_gradients
from crossrec.evaluate.baselines.tuning import label
from crossrec.evaluate.baselines.user_knn import top_k_per_row
from crossrec.metrics.protocol import evaluate
from tests.evaluate.test_baselines import checkerboard_data, cols, domain_data


@pytest.fixture
def tiny(tmp_path):
    """As in test_baselines.py: bridge users u0..u3, source a={u0,u1} b={u0,u2} c={u3},
    target x={u0,u1} y={u1,u2} z={u3}; cold u4 has source a, c (x held out)."""
    hist = {"u0": ("ab", "x"), "u1": ("a", "xy"), "u2": ("b", "y"), "u3": ("c", "z"),
            "u4": ("ac", "")}
    rows = [(u, f"sport:{i}", "sport", "train") for u, (s, _) in hist.items() for i in s]
    rows += [(u, f"cloth:{i}", "cloth", "train") for u, (_, t) in hist.items() for i in t]
    rows.append(("u4", "cloth:x", "cloth", "cold_test"))
    roles = {u: "cold_test" if u == "u4" else "train" for u in hist}
    return domain_data(tmp_path, rows, roles)


def user(data: DomainData, name: str) -> int:
    return int(np.flatnonzero(data.users == name)[0])


def test_user_knn_known_answer(tiny):
    """u4 = {a, c}: cosine to u0 {a,b} 1/2, to u1 {a} and u3 {c} 1/√2, to u2 {b} 0."""
    u4, (x, y, z) = user(tiny, "u4"), cols(tiny, 1, "xyz")
    r = 1 / np.sqrt(2)
    want = {1000: [0.5 + r, r, r],  # every neighbour: x from u0 and u1, y from u1, z from u3
            2: [r, r, r],  # u1 and u3 (u0's 1/2 is third)
            1: [r, r, 0.0]}  # u1 and u3 tie: the lower bridge user, u1
    for k, expected in want.items():
        s = UserKNN(tiny, ks=(k,)).score(np.array([u4])).numpy()
        np.testing.assert_allclose(s[0, [x, y, z]], expected, rtol=1e-6)


def test_user_knn_is_never_its_own_neighbour(tiny):
    u1, (x, _, z) = user(tiny, "u1"), cols(tiny, 1, "xyz")
    # u1 {a} is like u0 {a,b} (1/√2) only (not like itself); u0 bought x. The within-target
    # part adds cos(y, x) from u1's own y: 1 shared user / (2 + shrink 2) = 1/4
    s = UserKNN(tiny, ks=(1,)).score(np.array([u1])).numpy()
    assert s[0, x] == pytest.approx(1 / np.sqrt(2) + 0.25) and s[0, z] == 0.0


def test_rp3beta_known_answer(tiny):
    """alpha 1: W[a,x] = P(a->u0) P(u0->x) + P(a->u1) P(u1->x) = 1/3·1/3 + 1/3·1/3 (a's users
    are u0, u1, u4; u0 and u1 have 3 items each), W[a,y] = 1/9, W[c,z] = 1/2·1/2."""
    u4, (x, y, z) = user(tiny, "u4"), cols(tiny, 1, "xyz")
    s = RP3beta(tiny, alphas=(1.0,), betas=(0.0,), neighbours=None).score(np.array([u4]))
    np.testing.assert_allclose(s.numpy()[0, [x, y, z]], [2 / 9, 1 / 9, 1 / 4], rtol=1e-6)
    # beta 1 divides by the items' training buyers: x 2, y 2, z 1
    s = RP3beta(tiny, alphas=(1.0,), betas=(1.0,), neighbours=None).score(np.array([u4]))
    np.testing.assert_allclose(s.numpy()[0, [x, y, z]], [1 / 9, 1 / 18, 1 / 4], rtol=1e-6)
    # one neighbour per item: a keeps x only
    s = RP3beta(tiny, alphas=(1.0,), betas=(0.0,), neighbours=1).score(np.array([u4]))
    np.testing.assert_allclose(s.numpy()[0, [x, y, z]], [2 / 9, 0, 1 / 4], rtol=1e-6)


def test_kernel_ridge_equals_the_primal_ridge(tiny):
    """x S_Bᵀ (S_B S_Bᵀ + λI)⁻¹ T_B = x (S_Bᵀ S_B + λI)⁻¹ S_Bᵀ T_B, solved densely here."""
    bridge = [user(tiny, u) for u in ("u0", "u1", "u2", "u3")]
    a, b, c = cols(tiny, 0, "abc")
    x, y, z = cols(tiny, 1, "xyz")
    s_b = np.zeros((4, 3))
    t_b = np.zeros((4, 3))
    for i, (src, tgt) in enumerate([("ab", "x"), ("a", "xy"), ("b", "y"), ("c", "z")]):
        s_b[i, ["abc".index(ch) for ch in src]] = 1
        t_b[i, ["xyz".index(ch) for ch in tgt]] = 1
    scale = s_b.sum(1).mean()  # 1.25 source items per bridge user
    u4 = user(tiny, "u4")
    for lam in (0.1, 1.0, 10.0):
        want = np.array([1.0, 0, 1.0]) @ np.linalg.solve(
            s_b.T @ s_b + lam * scale * np.eye(3), s_b.T @ t_b)
        rec = KernelRidge(tiny, lambdas=(lam,), tol=1e-10)
        got = rec.score(np.array([u4])).numpy()[0, [x, y, z]]
        np.testing.assert_allclose(got, want, rtol=1e-6)
        assert rec.chosen["lambda"] == pytest.approx(lam * scale)
        assert rec.chosen["bridge_users"] == len(bridge)
    assert (a, b, c) == tuple(cols(tiny, 0, "abc"))


def test_conjugate_gradients_solve_each_column_alone():
    rng = np.random.default_rng(0)
    m = rng.random((30, 8))
    b = rng.random((30, 5))
    x = conjugate_gradients(lambda v: m @ (m.T @ v), b, (m * m).sum(1), 0.5, tol=1e-12)
    np.testing.assert_allclose(x, np.linalg.solve(m @ m.T + 0.5 * np.eye(30), b), rtol=1e-8)
    alone = conjugate_gradients(lambda v: m @ (m.T @ v), b[:, 2:3], (m * m).sum(1), 0.5, 1e-4)
    both = conjugate_gradients(lambda v: m @ (m.T @ v), b, (m * m).sum(1), 0.5, 1e-4)
    np.testing.assert_allclose(alone[:, 0], both[:, 2], rtol=1e-10)


def test_blend_known_answer(tiny):
    """u4's kNN scores (x, y, z) = (1, 1/2, 1) and log(1 + buyers) = (ln 3, ln 3, ln 2) each
    z-score to a ±√2/2, ∓√2 pattern; the blend mixes them with weight w."""
    u4, (x, y, z) = user(tiny, "u4"), cols(tiny, 1, "xyz")
    h = np.sqrt(2) / 2
    for w, want in ((0.0, [h, -2 * h, h]), (0.5, [h, -h / 2, -h / 2]), (1.0, [h, h, -2 * h])):
        rec = CoocPopBlend(tiny, weights=(w,), neighbours=None, shrink=0.0)
        np.testing.assert_allclose(rec.score(np.array([u4])).numpy()[0, [x, y, z]], want,
                                   rtol=1e-5)
    flat = zscore_rows(torch.tensor([[2.0, 2.0, 2.0], [0.0, 3.0, 0.0]]))
    assert (flat[0] == 0).all() and flat[1].argmax() == 1


def test_top_k_per_row_ties_go_to_the_lower_column():
    sim = np.array([[0.5, 0.7, 0.7, 0.1], [0.0, 0.0, 0.2, 0.0]])
    np.testing.assert_array_equal(top_k_per_row(sim, 1), [[0, 0.7, 0, 0], [0, 0, 0.2, 0]])
    np.testing.assert_array_equal(top_k_per_row(sim, 9), sim)


def world(tmp_path, seed: int = 0, n: int = 360) -> DomainData:
    """Three taste groups of 6 items per domain: each user buys 2 of their group's items and 2
    of any group in each domain; target item 0 is bought by 40% on top. 60 cold_val and 60
    cold_test users keep their source rows, their target rows are held out."""
    rng = np.random.default_rng(seed)
    rows, roles = [], {}
    for u in range(n):
        group = u % 3
        role = "cold_test" if u < 60 else "cold_val" if u < 120 else "train"
        roles[f"u{u}"] = role
        for domain in ("sport", "cloth"):
            items = set(rng.choice(6, 2, replace=False) + 6 * group) | set(rng.choice(18, 2))
            if domain == "cloth" and rng.random() < 0.4:
                items.add(0)
            for i in items:
                r = "train" if domain == "sport" or role == "train" else role
                rows.append((f"u{u}", f"{domain}:{i}", domain, r))
    return domain_data(tmp_path, rows, roles)


GRIDS = {
    CoocPopBlend: {"weights": (0.0, 0.3, 0.9)},
    RP3beta: {"alphas": (0.5, 1.0), "betas": (0.0, 0.4)},
    KernelRidge: {"lambdas": (0.01, 1.0, 100.0)},
    UserKNN: {"ks": (1, 5, 100)},
}


def single_points(cls, grid: dict) -> list[dict]:
    """Each point of ``grid`` as the keyword arguments of a one-point grid."""
    if cls is RP3beta:
        return [{"alphas": (a,), "betas": (b,)} for a in grid["alphas"] for b in grid["betas"]]
    ((key, values),) = grid.items()
    return [{key: (v,)} for v in values]


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    return world(tmp_path_factory.mktemp("world"))


@pytest.mark.parametrize("cls", GRIDS, ids=lambda c: c.__name__)
def test_tuning_picks_the_best_point_on_cold_val(noisy, cls):
    rec = cls(noisy, **GRIDS[cls])
    # each point built on its own, judged on cold_val: the tuned one is the first best
    alone = [evaluate(cls(noisy, **kw), "cold_val")["ndcg@10"]
             for kw in single_points(cls, GRIDS[cls])]
    assert list(rec.tried.values()) == pytest.approx(alone)
    best = int(np.argmax(alone))  # the first of equals
    assert label(rec.chosen).startswith(list(rec.tried)[best])  # kernel ridge adds λ itself
    assert evaluate(rec, "cold_val")["ndcg@10"] == pytest.approx(alone[best])


def test_blend_weight_follows_what_cold_val_rewards(tmp_path):
    """Targets unrelated to the sources, everybody on the same three items: the kNN's
    evidence is noise and popularity is right, so the tuning moves to popularity."""
    rng = np.random.default_rng(1)
    rows, roles = [], {}
    for u in range(200):
        role = "cold_val" if u < 40 else "cold_test" if u < 60 else "train"
        roles[f"u{u}"] = role
        for i in rng.choice(30, 3, replace=False):
            rows.append((f"u{u}", f"sport:{i}", "sport", "train"))
        popular = [0, 1, 2] if rng.random() < 0.8 else []
        for i in {*popular, *rng.choice(30, 2)}:
            rows.append((f"u{u}", f"cloth:{i}", "cloth", "train" if role == "train" else role))
    data = domain_data(tmp_path, rows, roles)
    rec = CoocPopBlend(data, weights=(0.0, 0.5, 0.9))
    assert rec.chosen["weight"] > 0
    assert rec.tried[label(rec.chosen)] == max(rec.tried.values()) > rec.tried["weight=0.0"]


class Spy(dict):
    """A dict that records which keys were read."""

    def __init__(self, *args):
        super().__init__(*args)
        self.read = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)


@pytest.mark.parametrize("cls", GRIDS, ids=lambda c: c.__name__)
def test_only_cold_val_truth_is_read_and_cold_test_cannot_move_the_choice(tmp_path, cls):
    data = world(tmp_path)
    data.truth, data.truth_sizes = Spy(data.truth), Spy(data.truth_sizes)
    chosen = cls(data, **GRIDS[cls]).chosen
    assert data.truth.read == {"cold_val"} and data.truth_sizes.read == {"cold_val"}
    # the cold test users' answers replaced by other items: the same choice
    start = data.vocab.domain_ranges[1][0]
    rng = np.random.default_rng(5)
    n_target = data.vocab.domain_ranges[1][1] - start
    data.truth["cold_test"] = {u: rng.choice(n_target, len(t), replace=False) + start
                               for u, t in data.truth["cold_test"].items()}
    assert cls(data, **GRIDS[cls]).chosen == chosen


@pytest.mark.parametrize("cls", GRIDS, ids=lambda c: c.__name__)
def test_batch_equals_single_and_seen_items_are_excluded(noisy, cls):
    rec = cls(noisy, **GRIDS[cls])
    users = np.concatenate([np.flatnonzero(noisy.user_role == "train")[:6],
                            np.flatnonzero(noisy.user_role == "cold_test")[:6]])
    ids, vals = rec.recommend(users, 5)
    for i, seen in enumerate(rec.seen_target(users)):
        assert not set(ids[i]) & set(seen)
        one_ids, one_vals = rec.recommend(users[i:i + 1], 5)
        np.testing.assert_allclose(one_vals[0], vals[i], rtol=1e-5, atol=1e-7)
    rec.block = 4  # several score blocks give the same lists
    np.testing.assert_allclose(rec.recommend(users, 5)[1], vals, rtol=1e-5, atol=1e-7)


@pytest.fixture(scope="module")
def checkerboard(tmp_path_factory):
    """The known-answer world of test_baselines.py: group A buys items 0-4 of both domains,
    group B items 5-9."""
    return checkerboard_data(tmp_path_factory.mktemp("checkerboard"))


@pytest.mark.parametrize("cls", GRIDS, ids=lambda c: c.__name__)
def test_cold_users_get_their_groups_target_items_first(checkerboard, cls):
    data = checkerboard
    rec = cls(data)  # the default grids
    cold = np.flatnonzero(data.user_role != "train")
    top, _ = rec.recommend(cold, 5)
    items = data.vocab.item_ids[top + data.vocab.domain_ranges[1][0]]
    for u, recs in zip(cold, items, strict=True):
        group = int(data.users[u][1:]) % 2
        assert set(recs) == {f"cloth:{i + 5 * group}" for i in range(5)}, (data.users[u], recs)
    assert evaluate(rec, "cold_test")["hr@10"] == 1.0


def test_no_overlapping_users_is_a_clear_error(tmp_path):
    rows = [("u0", "sport:a", "sport", "train"), ("u1", "cloth:x", "cloth", "train")]
    data = domain_data(tmp_path, rows, {"u0": "train", "u1": "train"})
    for cls in GRIDS:
        with pytest.raises(ValueError, match="both domains"):
            cls(data)


@pytest.mark.parametrize("name", ["cooc_pop_blend", "rp3beta", "kernel_ridge", "user_knn"])
def test_refit_with_what_was_chosen_scores_like_the_tuned_one(noisy, name):
    """Refitting a tuned baseline with its choice fixed rebuilds the same recommender (on
    the same rows), without searching again."""
    from crossrec.config import Settings
    from crossrec.evaluate.methods import baseline_factories, refit_factory

    settings = Settings()
    tuned = baseline_factories(settings)[name](noisy)
    again = refit_factory(settings, name, tuned.chosen)(noisy)
    assert again.tried == {}  # a one-point grid is not evaluated
    assert {k: again.chosen[k] for k in tuned.chosen} == tuned.chosen
    users = np.arange(len(noisy.users))
    assert torch.equal(again.score(users), tuned.score(users))
    with pytest.raises(ValueError, match="needs what it chose"):
        refit_factory(settings, name, None)
