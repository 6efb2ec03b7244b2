"""Per-activity buckets of the protocol: known-answer means per bucket, consistent with the
overall mean."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from crossrec.metrics.protocol import ACTIVITY, activity_label, evaluate
from crossrec.ranking.recommender import Recommender

# target items are global indices 10..13 (columns 0..3); every user's scores prefer column 0
SCORES = torch.tensor([4.0, 3.0, 2.0, 1.0])


class Fixed(Recommender):
    def __init__(self, data):
        self.data = data

    def score(self, users):
        return SCORES.repeat(len(users), 1)


def world() -> SimpleNamespace:
    # distinct source items 0, 2, 2 (one item twice), 7, 25; truth: column 0 (a hit at rank 1)
    # for the users with 2 and 25 source items, column 1 (rank 2) for the others
    source = [np.array([], dtype=np.int64), np.array([1, 2]), np.array([3, 3, 4]),
              np.arange(1, 8), np.arange(1, 26)]
    truth_col = [1, 0, 0, 1, 0]
    return SimpleNamespace(
        vocab=SimpleNamespace(domain_ranges=[(1, 10), (10, 14)]), source="s", target="t",
        train_hist={"s": source, "t": [np.array([], dtype=np.int64)] * 5},
        truth={"cold_test": {u: np.array([10 + c]) for u, c in enumerate(truth_col)}},
        truth_sizes={"cold_test": dict.fromkeys(range(5), 1)})


def test_metrics_by_source_activity_known_answer():
    out = evaluate(Fixed(world()), "cold_test", by_activity=True)
    rank_two = 1 / np.log2(3)
    assert out["ndcg@10"] == pytest.approx((3 + 2 * rank_two) / 5)
    buckets = out["by_activity"]
    assert list(buckets) == ["0", "1-4", "5-9", "20+"]  # nobody with 10-19: left out
    assert buckets["0"] == pytest.approx({"ndcg@10": rank_two, "recall@20": 1.0, "hr@10": 1.0,
                                          "mrr": 0.5, "users": 1})
    # two users with 2 distinct source items (a repeated one counts once): both hit at 1
    assert buckets["1-4"]["users"] == 2 and buckets["1-4"]["ndcg@10"] == pytest.approx(1.0)
    assert buckets["5-9"]["mrr"] == pytest.approx(0.5)
    assert buckets["20+"]["mrr"] == pytest.approx(1.0)
    # the buckets' user-weighted mean is the overall mean
    assert sum(b["ndcg@10"] * b["users"] for b in buckets.values()) / 5 == pytest.approx(
        out["ndcg@10"])


def test_without_buckets_the_result_is_unchanged():
    plain = evaluate(Fixed(world()), "cold_test")
    assert "by_activity" not in plain
    full = evaluate(Fixed(world()), "cold_test", by_activity=True)
    assert {k: full[k] for k in plain} == plain


def test_bucket_labels():
    assert [activity_label(*b) for b in ACTIVITY] == ["0", "1-4", "5-9", "10-19", "20+"]
