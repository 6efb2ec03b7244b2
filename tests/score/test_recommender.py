import numpy as np
import torch

from crossrec.data.domain import DomainData
from crossrec.data.vocab import Vocabulary
from crossrec.ranking.recommender import Recommender


class Fixed(Recommender):
    """Score-only recommender: fixed (users, items) scores, nothing factorised."""

    def __init__(self, data: DomainData, table: torch.Tensor):
        self.data, self.table = data, table

    def score(self, users: np.ndarray) -> torch.Tensor:
        return self.table[torch.from_numpy(users)].clone()


def data_with_seen(seen: list[np.ndarray], n_source: int, n_target: int) -> DomainData:
    # item keys ("<domain>:<id>"): the user's own ids are s0.., t0..
    names = [f"s:s{i}" for i in range(n_source)] + [f"t:t{i}" for i in range(n_target)]
    start = 1 + n_source
    vocab = Vocabulary(np.array([""] + names, dtype=object), ["s", "t"],
                       [(1, start), (start, start + n_target)], {n: i + 1 for i, n in
                                                                  enumerate(names)})
    n = len(seen)
    empty = [np.zeros(0, dtype=np.int64) for _ in range(n)]
    target = [s + start for s in seen]
    return DomainData(vocab, "s", "t", np.array([f"u{i}" for i in range(n)], dtype=object),
                      {"s": empty, "t": target}, {"s": empty, "t": target}, {}, {},
                      np.array(["train"] * n, dtype=object))


def test_score_only_recommender_matches_dense_argsort_across_blocks():
    rng = np.random.default_rng(0)
    seen = [rng.choice(30, size=rng.integers(0, 8), replace=False) for _ in range(23)]
    seen[5] = np.arange(28)  # only two unseen items: the rest pads with -1 / -inf
    table = torch.randn(23, 30, generator=torch.Generator().manual_seed(0))
    rec = Fixed(data_with_seen(seen, 4, 30), table)
    rec.block = 5
    users = np.arange(23)
    ids, vals = rec.recommend(users, 6)
    dense = table.numpy().copy()
    for i, s in enumerate(seen):
        dense[i, s] = -np.inf
    want = np.argsort(-dense, axis=1, kind="stable")[:, :6]
    ok = np.isfinite(np.take_along_axis(dense, want, 1))
    assert (ids[ok] == want[ok]).all() and (ids[~ok] == -1).all() and np.isneginf(vals[~ok]).all()
    assert ok[5].sum() == 2
    np.testing.assert_allclose(vals[ok], np.take_along_axis(dense, want, 1)[ok])


def test_score_only_batch_and_single_user_agree_and_exclude_is_optional():
    seen = [np.array([0, 1]), np.array([], dtype=np.int64), np.array([3])]
    table = torch.tensor([[9.0, 8.0, 1.0, 2.0], [1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 2.0, 5.0]])
    rec = Fixed(data_with_seen(seen, 2, 4), table)
    ids, _ = rec.recommend(np.arange(3), 2)
    assert ids.tolist() == [[3, 2], [3, 2], [2, 1]]
    for u in range(3):
        assert (rec.recommend(np.array([u]), 2)[0][0] == ids[u]).all()
    assert rec.recommend(np.array([0]), 2, exclude=False)[0].tolist() == [[0, 1]]
