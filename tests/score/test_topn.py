import numpy as np
import torch

from crossrec.score.topn import topn


def brute(u, v, k, seen):
    s = (u @ v.T).numpy()
    for i, cols in enumerate(seen):
        s[i, cols] = -np.inf
    return np.argsort(-s, axis=1, kind="stable")[:, :k]


def test_matches_brute_force_across_blocks_and_excludes_seen():
    g = torch.Generator().manual_seed(0)
    u, v = torch.randn(37, 8, generator=g), torch.randn(50, 8, generator=g)
    rng = np.random.default_rng(0)
    seen = [rng.choice(50, size=rng.integers(0, 10), replace=False) for _ in range(37)]
    ids, scores = topn(u, v, 5, seen, block=8)
    assert (ids == brute(u, v, 5, seen)).all()
    for i in range(37):
        assert not set(ids[i]) & set(seen[i])
        assert (np.diff(scores[i]) <= 0).all()


def test_short_catalogue_pads_with_minus_one():
    u, v = torch.ones(2, 2), torch.eye(2)
    ids, scores = topn(u, v, 3, [np.array([0]), np.array([], dtype=np.int64)])
    assert ids[0].tolist() == [1, -1, -1] and np.isneginf(scores[0, 1:]).all()
    assert sorted(ids[1, :2].tolist()) == [0, 1] and ids[1, 2] == -1


def test_batch_and_single_user_agree():
    g = torch.Generator().manual_seed(1)
    u, v = torch.randn(10, 4, generator=g), torch.randn(30, 4, generator=g)
    ids, _ = topn(u, v, 7)
    for i in range(10):
        one, _ = topn(u[i:i + 1], v, 7)
        assert (one[0] == ids[i]).all()
