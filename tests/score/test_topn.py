import numpy as np
import pytest
import torch

from crossrec.ranking import topn as topn_module
from crossrec.ranking.select import Seen, TopK
from crossrec.ranking.topn import blocked_topk, topn


def brute(u, v, k, seen):
    """Reference: full argsort, ties by the lower column (stable sort of negated scores)."""
    s = (u @ v.T).numpy().astype(np.float64)
    for i, cols in enumerate(seen):
        s[i, cols] = -np.inf
    return np.argsort(-s, axis=1, kind="stable")[:, :k]


@pytest.fixture
def small_tiles(monkeypatch):
    """Item tiles of 16 columns so a 50-item catalogue spans four tiles, one of them short."""
    monkeypatch.setattr(topn_module, "ITEM_TILE", 16)


@pytest.mark.parametrize("memory_mb", [0.0005, 1.0])  # one user per block, then all at once
def test_matches_brute_force_across_tiles_and_blocks(small_tiles, memory_mb):
    g = torch.Generator().manual_seed(0)
    u, v = torch.randn(37, 8, generator=g), torch.randn(50, 8, generator=g)
    rng = np.random.default_rng(0)
    seen = [rng.choice(50, size=rng.integers(0, 10), replace=False) for _ in range(37)]
    ids, scores = topn(u, v, 5, seen, memory_mb=memory_mb)
    assert (ids == brute(u, v, 5, seen)).all()
    exact = np.take_along_axis((u @ v.T).numpy(), ids, 1)
    np.testing.assert_allclose(scores, exact, rtol=1e-6)  # product shapes change last bits
    for i in range(37):
        assert not set(ids[i]) & set(seen[i])
        assert (np.diff(scores[i]) <= 0).all()


def test_k_larger_than_a_tile_and_seen_as_csr(small_tiles):
    g = torch.Generator().manual_seed(3)
    u, v = torch.randn(9, 4, generator=g), torch.randn(70, 4, generator=g)
    seen = [np.array([i, 69 - i]) for i in range(9)]
    ids, _ = topn(u, v, 40, Seen.from_lists(seen))
    assert (ids == brute(u, v, 40, seen)).all()


def test_ties_keep_the_lower_column_whatever_the_tiling(small_tiles):
    u, v = torch.ones(3, 2), torch.ones(50, 2)  # every score equal
    ids, scores = topn(u, v, 4, [np.array([0, 2]), np.array([], dtype=np.int64),
                                 np.array([1])])
    assert ids.tolist() == [[1, 3, 4, 5], [0, 1, 2, 3], [0, 2, 3, 4]]
    assert (scores == 2.0).all()


def test_short_catalogue_pads_with_minus_one():
    u, v = torch.ones(2, 2), torch.eye(2)
    ids, scores = topn(u, v, 3, [np.array([0]), np.array([], dtype=np.int64)])
    assert ids[0].tolist() == [1, -1, -1] and np.isneginf(scores[0, 1:]).all()
    assert ids[1].tolist() == [0, 1, -1] and np.isneginf(scores[1, 2])


def test_batch_and_single_user_agree():
    g = torch.Generator().manual_seed(1)
    u, v = torch.randn(10, 4, generator=g), torch.randn(30, 4, generator=g)
    ids, _ = topn(u, v, 7)
    for i in range(10):
        one, _ = topn(u[i:i + 1], v, 7)
        assert (one[0] == ids[i]).all()


def test_blocked_topk_ranks_score_blocks_like_topn():
    g = torch.Generator().manual_seed(2)
    u, v = torch.randn(21, 6, generator=g), torch.randn(40, 6, generator=g)
    seen = [np.arange(i % 5) for i in range(21)]
    want = topn(u, v, 6, seen)
    got = blocked_topk(lambda a, b: u[a:b] @ v.T, 21, 6, seen, block=4)
    assert (got[0] == want[0]).all()
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6)


def test_streaming_topk_equals_one_pass_whatever_the_tile_order():
    rng = np.random.default_rng(4)
    scores = rng.standard_normal((6, 300)).astype(np.float32)
    whole = TopK(6, 10)
    whole.push(scores.copy())
    parts = TopK(6, 10)
    for start in (200, 0, 100):  # tiles in any order give the same answer
        parts.push(np.ascontiguousarray(scores[:, start:start + 100]), start)
    a, b = whole.result(), parts.result()
    assert (a[0] == b[0]).all() and (a[0] == np.argsort(-scores, axis=1)[:, :10]).all()


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="seen has 1 users"):
        topn(torch.ones(2, 2), torch.ones(3, 2), 1, [np.array([0])])
    with pytest.raises(ValueError, match="k must be"):
        TopK(2, 0)
    with pytest.raises(TypeError, match="float32"):
        TopK(1, 1).push(np.ones((1, 3)))
    with pytest.raises(ValueError, match="memory_mb"):
        topn(torch.ones(2, 2), torch.ones(3, 2), 1, memory_mb=0)


def test_device_path_ranks_like_the_cpu_kernel():
    """The CUDA path's selection (torch.topk after masking), run here on CPU tensors."""
    from crossrec.ranking.select import Seen
    from crossrec.ranking.topn import _device_topk

    g = torch.Generator().manual_seed(5)
    u, v = torch.randn(12, 6, generator=g), torch.randn(30, 6, generator=g)
    seen = [np.arange(i % 4) * 3 for i in range(12)]
    want = topn(u, v, 5, seen)
    got = _device_topk(u @ v.T, 5, Seen.from_lists(seen), 0)
    assert (got[0] == want[0]).all()
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6)


def test_seed_rank_is_a_safe_binomial_quantile():
    from crossrec.ranking.topn import seed_rank

    assert seed_rank(100, 2048, 50_000) == 12  # Binomial(100, 0.041): P(X >= 12) < 1e-3
    assert seed_rank(100, 50_000, 50_000) is None  # the sample is the whole catalogue
    assert seed_rank(10, 8, 1000) is None  # fewer sampled columns than k


def test_a_floor_that_proves_too_high_is_ranked_again(monkeypatch):
    """Force a floor above every score: each user is ranked again, without one."""
    from crossrec.ranking import topn as module

    monkeypatch.setattr(module, "ITEM_TILE", 16)
    monkeypatch.setattr(module, "SEED_ITEMS", 16)
    monkeypatch.setattr(module, "seed_rank", lambda k, sample, n: 1)  # the best of 16
    g = torch.Generator().manual_seed(6)
    u, v = torch.randn(7, 4, generator=g), torch.randn(64, 4, generator=g)
    ids, _ = topn(u, v, 5)
    assert (ids == brute(u, v, 5, [[]] * 7)).all()
