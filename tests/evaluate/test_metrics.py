"""Hand-computed known answers for the ranking metrics."""

import math

import numpy as np
import pytest
import torch

from crossrec.evaluate.metrics import ranking_metrics


def run(scores, truth, sizes=None):
    truth = [np.array(t, dtype=np.int64) for t in truth]
    sizes = np.array(sizes if sizes is not None else [len(t) for t in truth])
    return ranking_metrics(torch.tensor(scores, dtype=torch.float32), truth, sizes)


def test_single_relevant_item_at_rank_two():
    m = run([[0.9, 0.8, 0.1, 0.0]], [[1]])
    assert m["ndcg@10"][0] == pytest.approx(1 / math.log2(3))
    assert m["hr@10"][0] == 1 and m["recall@20"][0] == 1
    assert m["mrr"][0] == pytest.approx(0.5)


def test_many_relevant_items():
    # relevant at ranks 1 and 3 of 5; 3 relevant in total
    m = run([[5, 4, 3, 2, 1]], [[0, 2, 4]])
    dcg = 1 + 1 / math.log2(4) + 1 / math.log2(6)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert m["ndcg@10"][0] == pytest.approx(dcg / idcg)
    assert m["recall@20"][0] == pytest.approx(1.0)
    assert m["mrr"][0] == 1.0


def test_unreachable_truth_counts_in_size():
    # two held-out items, only one is in the catalogue (and ranked first)
    m = run([[1.0, 0.0]], [[0]], sizes=[2])
    assert m["recall@20"][0] == pytest.approx(0.5)
    assert m["ndcg@10"][0] == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_user_with_nothing_rankable_scores_zero():
    m = run([[1.0, 0.5]], [[]], sizes=[1])
    assert all(m[k][0] == 0 for k in m)


def test_excluded_items_never_hit_and_ties():
    m = run([[-math.inf, 1.0, 1.0]], [[0]])
    assert m["hr@10"][0] == 0 and m["mrr"][0] == 0
    # a relevant item tied with another counts optimistically in MRR (strictly-greater rule)
    m = run([[1.0, 1.0, 0.0]], [[1]])
    assert m["mrr"][0] == 1.0


def test_rank_eleven_misses_hr_but_hits_recall():
    scores = [[float(20 - i) for i in range(20)]]
    m = run(scores, [[10]])
    assert m["hr@10"][0] == 0 and m["ndcg@10"][0] == 0 and m["recall@20"][0] == 1
    assert m["mrr"][0] == pytest.approx(1 / 11)
