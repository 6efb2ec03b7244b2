"""Hand-computed known answers for the ranking metrics, plus a brute-force cross-check."""

import math

import numpy as np
import pytest
import torch

from crossrec.metrics.ranking import METRICS, ranking_metrics

INF = math.inf


def run(scores, truth, sizes=None):
    truth = [np.array(t, dtype=np.int64) for t in truth]
    sizes = np.array(sizes if sizes is not None else [len(t) for t in truth])
    return ranking_metrics(torch.tensor(scores, dtype=torch.float32), truth, sizes)


def one(scores, truth, size=None):
    """Metrics of a single user as plain floats."""
    m = run([scores], [truth], None if size is None else [size])
    return {k: float(v[0]) for k, v in m.items()}


def disc(positions):
    """Sum of NDCG discounts at 1-based ``positions``."""
    return sum(1 / math.log2(p + 1) for p in positions)


def reference(scores, truth, size):
    """Per-user metrics from an explicit pessimistic sort (relevant last among equal scores)."""
    rel = set(truth)
    order = sorted(range(len(scores)), key=lambda j: (-scores[j], j in rel))
    hit = [j in rel and scores[j] > -INF for j in order]
    first = next((p for p, h in enumerate(hit) if h), None)
    idcg = disc(range(1, min(size, 10) + 1))
    return {"ndcg@10": disc(p + 1 for p, h in enumerate(hit[:10]) if h) / idcg if idcg else 0.0,
            "recall@20": sum(hit[:20]) / size if size else 0.0,
            "hr@10": float(any(hit[:10])),
            "mrr": 0.0 if first is None else 1 / (first + 1)}


def random_case(rng, n, m, levels=4):
    """A block with heavy ties (few distinct scores), some exclusions and unrankable truth."""
    scores = rng.integers(0, levels, size=(n, m)).astype(np.float32)
    scores[rng.random((n, m)) < 0.15] = -np.inf
    truth = [rng.choice(m, size=rng.integers(0, min(m, 30) + 1), replace=False) for _ in range(n)]
    sizes = np.array([len(t) + rng.integers(0, 3) for t in truth])
    return scores, truth, sizes


def test_single_relevant_item_at_rank_two():
    m = one([0.9, 0.8, 0.1, 0.0], [1])
    assert m["ndcg@10"] == pytest.approx(1 / math.log2(3))
    assert m["hr@10"] == 1 and m["recall@20"] == 1
    assert m["mrr"] == pytest.approx(0.5)


def test_relevant_at_ranks_one_three_five():
    m = one([5, 4, 3, 2, 1], [0, 2, 4])
    assert m["ndcg@10"] == pytest.approx(disc([1, 3, 5]) / disc([1, 2, 3]))
    assert m["recall@20"] == pytest.approx(1.0)
    assert m["mrr"] == 1.0


def test_rank_eleven_misses_hr_but_hits_recall():
    m = one([float(20 - i) for i in range(20)], [10])
    assert m["hr@10"] == 0 and m["ndcg@10"] == 0 and m["recall@20"] == 1
    assert m["mrr"] == pytest.approx(1 / 11)


# --- ties: a relevant item is ranked after every non-relevant item with the same score ---

def test_constant_scores_rank_relevant_last():
    # a model that emits one value for everything must not look good
    m = one([1.0, 1.0, 1.0, 1.0], [3])
    assert m["mrr"] == pytest.approx(1 / 4)
    assert m["ndcg@10"] == pytest.approx(1 / math.log2(5))
    assert m["hr@10"] == 1 and m["recall@20"] == 1


def test_tie_inside_top_ten():
    # order: item 0 (3.0), then the non-relevant tie (item 2), then relevant items 1 and 3
    m = one([3.0, 2.0, 2.0, 2.0, 1.0], [1, 3])
    assert m["ndcg@10"] == pytest.approx(disc([3, 4]) / disc([1, 2]))
    assert m["mrr"] == pytest.approx(1 / 3)


def test_tie_across_the_recall_cut_off_counts_no_relevant_item():
    # 15 non-relevant at 2.0; 10 tied at 1.0 (3 relevant) fill positions 16..25:
    # the 5 slots left in the top-20 go to the 7 non-relevant ties
    scores = [2.0] * 15 + [1.0] * 10
    m = one(scores, [15, 16, 17])
    assert m["recall@20"] == 0 and m["hr@10"] == 0 and m["ndcg@10"] == 0
    assert m["mrr"] == pytest.approx(1 / (15 + 7 + 1))


def test_tie_across_the_recall_cut_off_partial_hits():
    # 8 of the 10 tied are relevant: positions 16-17 non-relevant, 18-20 relevant
    scores = [2.0] * 15 + [1.0] * 10
    m = one(scores, list(range(17, 25)))
    assert m["recall@20"] == pytest.approx(3 / 8)
    assert m["hr@10"] == 0 and m["ndcg@10"] == 0
    assert m["mrr"] == pytest.approx(1 / 18)


def test_tied_relevant_items_only_do_not_lose_anything():
    # ties among relevant items alone cannot change binary-gain metrics
    m = one([1.0, 1.0, 0.0], [0, 1])
    assert m == {"ndcg@10": pytest.approx(1.0), "recall@20": 1.0, "hr@10": 1.0, "mrr": 1.0}


def test_mrr_and_top_k_agree_on_ties():
    # the first hit position seen by HR must be the rank MRR reports
    rng = np.random.default_rng(0)
    scores, truth, sizes = random_case(rng, 300, 40, levels=3)
    m = ranking_metrics(torch.from_numpy(scores), truth, sizes)
    ranked = m["mrr"] > 0
    assert ranked.any()
    np.testing.assert_array_equal(m["hr@10"][ranked] == 1, 1 / m["mrr"][ranked] <= 10 + 1e-4)
    single = np.array([len(t) == 1 for t in truth]) & ranked & (m["hr@10"] == 1)
    expected = 1 / np.log2(1 + np.round(1 / m["mrr"][single]))
    idcg = np.array([disc(range(1, min(s, 10) + 1)) for s in sizes[single]])
    np.testing.assert_allclose(m["ndcg@10"][single], expected / idcg, rtol=1e-5)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("m", [3, 12, 60])
def test_matches_brute_force_pessimistic_sort(seed, m):
    rng = np.random.default_rng(seed)
    scores, truth, sizes = random_case(rng, 40, m)
    got = ranking_metrics(torch.from_numpy(scores), truth, sizes)
    for u in range(len(truth)):
        want = reference(scores[u].tolist(), truth[u].tolist(), int(sizes[u]))
        for k in METRICS:
            assert got[k][u] == pytest.approx(want[k], abs=1e-6), (u, k)


# --- many relevant items ---

def test_fifteen_relevant_all_on_top():
    # IDCG is capped at 10 positions; all 15 fall in the top-20
    m = one([float(30 - i) for i in range(30)], list(range(15)))
    assert m == {"ndcg@10": pytest.approx(1.0), "recall@20": 1.0, "hr@10": 1.0, "mrr": 1.0}


def test_twenty_five_relevant_recall_capped_by_cut_off():
    m = one([float(40 - i) for i in range(40)], list(range(25)))
    assert m["ndcg@10"] == pytest.approx(1.0)
    assert m["recall@20"] == pytest.approx(20 / 25)


def test_twenty_five_relevant_at_even_positions():
    # relevant items sit at 1-based positions 2, 4, ..., 50 of 60
    scores = [float(60 - i) for i in range(60)]
    m = one(scores, list(range(1, 50, 2)))
    assert m["ndcg@10"] == pytest.approx(disc([2, 4, 6, 8, 10]) / disc(range(1, 11)))
    assert m["recall@20"] == pytest.approx(10 / 25)
    assert m["hr@10"] == 1 and m["mrr"] == pytest.approx(0.5)


# --- nothing rankable; unrankable truth ---

def test_unreachable_truth_counts_in_size():
    # two held-out items, only one is in the catalogue (and ranked first)
    m = one([1.0, 0.0], [0], size=2)
    assert m["recall@20"] == pytest.approx(0.5)
    assert m["ndcg@10"] == pytest.approx(1 / disc([1, 2]))


def test_user_with_nothing_rankable_scores_zero():
    assert all(v == 0 for v in one([1.0, 0.5], [], size=1).values())


def test_user_with_no_truth_at_all_scores_zero():
    assert all(v == 0 for v in one([1.0, 0.5], [], size=0).values())


def test_nothing_rankable_does_not_disturb_other_users():
    m = run([[1.0, 0.5, 0.0], [1.0, 0.5, 0.0]], [[], [1]], sizes=[3, 1])
    assert all(m[k][0] == 0 for k in METRICS)
    assert m["mrr"][1] == pytest.approx(0.5) and m["recall@20"][1] == 1


# --- short catalogues ---

def test_catalogue_shorter_than_ten():
    m = one([3.0, 2.0, 1.0], [0, 2])
    assert m["ndcg@10"] == pytest.approx(disc([1, 3]) / disc([1, 2]))
    assert m["recall@20"] == 1 and m["hr@10"] == 1 and m["mrr"] == 1


def test_short_catalogue_does_not_shrink_idcg():
    # 5 held out, 3 rankable and ranked perfectly: the 2 unreachable ones still cost NDCG
    m = one([3.0, 2.0, 1.0], [0, 1, 2], size=5)
    assert m["ndcg@10"] == pytest.approx(disc([1, 2, 3]) / disc(range(1, 6)))
    assert m["recall@20"] == pytest.approx(3 / 5)


def test_catalogue_between_ten_and_twenty():
    m = one([float(15 - i) for i in range(15)], [11])
    assert m["hr@10"] == 0 and m["ndcg@10"] == 0
    assert m["recall@20"] == 1 and m["mrr"] == pytest.approx(1 / 12)


def test_empty_catalogue():
    m = run(np.zeros((2, 0)), [[], []], sizes=[1, 0])
    assert all(m[k].shape == (2,) and (m[k] == 0).all() for k in METRICS)


# --- exclusions ---

def test_excluded_items_never_hit_in_short_catalogue():
    # the top-3 of a 3-item catalogue holds the excluded relevant item: still no hit
    m = one([-INF, 1.0, 1.0], [0])
    assert all(v == 0 for v in m.values())


def test_excluded_relevant_item_is_skipped_but_counted_in_size():
    m = one([-INF, 2.0, 1.0], [0, 2])
    assert m["ndcg@10"] == pytest.approx(disc([2]) / disc([1, 2]))
    assert m["recall@20"] == pytest.approx(0.5)
    assert m["hr@10"] == 1 and m["mrr"] == pytest.approx(0.5)


def test_all_relevant_excluded_scores_zero():
    m = one([-INF, -INF, 2.0, 1.0], [0, 1])
    assert all(v == 0 for v in m.values())


def test_duplicate_truth_is_one_relevant_item():
    m = one([1.0, 0.0], [0, 0], size=2)
    assert m["recall@20"] == pytest.approx(0.5) and m["mrr"] == 1
    assert m["ndcg@10"] == pytest.approx(1 / disc([1, 2]))


# --- blocks ---

def test_block_equals_one_user_at_a_time():
    rng = np.random.default_rng(1)
    scores, truth, sizes = random_case(rng, 64, 150, levels=6)
    block = ranking_metrics(torch.from_numpy(scores), truth, sizes)
    for u in range(len(truth)):
        alone = ranking_metrics(torch.from_numpy(scores[u:u + 1]), truth[u:u + 1], sizes[u:u + 1])
        for k in METRICS:
            assert block[k][u] == alone[k][0], (u, k)


def test_large_block_is_vectorised():
    # 5000 x 20000 would take minutes with a per-user loop over items; just check it runs
    n, m = 5000, 20000
    gen = torch.Generator().manual_seed(0)
    scores = torch.rand((n, m), generator=gen)
    rng = np.random.default_rng(2)
    truth = [rng.choice(m, size=5, replace=False) for _ in range(n)]
    sizes = np.full(n, 6)
    got = ranking_metrics(scores, truth, sizes)
    for k in METRICS:
        assert got[k].shape == (n,) and ((got[k] >= 0) & (got[k] <= 1)).all()
    assert got["recall@20"].max() <= 5 / 6 + 1e-6
    for u in (0, 1234, n - 1):
        alone = ranking_metrics(scores[u:u + 1], truth[u:u + 1], sizes[u:u + 1])
        assert all(got[k][u] == alone[k][0] for k in METRICS)


# --- bad input ---

@pytest.mark.parametrize("truth,sizes", [([[-1]], [1]), ([[3]], [1]), ([[0, 1]], [1])])
def test_invalid_truth_raises(truth, sizes):
    with pytest.raises(ValueError):
        run([[1.0, 0.5, 0.0]], truth, sizes)


def test_nan_scores_raise():
    with pytest.raises(ValueError, match="NaN"):
        one([math.nan, 1.0], [0])


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError):
        run([[1.0, 0.5]], [[0], [1]], sizes=[1, 1])
