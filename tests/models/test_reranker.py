"""The cold-user reranker: candidate choice, feature layout, and that training learns an order."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from crossrec.models.cold_signals import RANKED, SIGNALS, SignalsConfig
from crossrec.models.reranker import FEATURES, RerankerConfig, candidate_table
from crossrec.train.rerank import fit_reranker, pseudo_cold_table


def evidence(users: int, items: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.random((users, items)).astype(np.float32) for name in SIGNALS}


def test_candidates_are_the_items_the_ranked_signals_agree_on():
    ev = evidence(2, 8)
    for name in RANKED:  # every ranked signal puts items 5, then 2, first for both users
        ev[name][:, 5] += 10.0
        ev[name][:, 2] += 5.0
    cand, x = candidate_table(ev, 3)
    assert cand.shape == (2, 3) and x.shape == (2, 3, len(FEATURES))
    assert cand[:, :2].tolist() == [[5, 2], [5, 2]]
    rank = FEATURES.index(f"{RANKED[0]}_rank")
    assert x[:, 0, rank].tolist() == [0.0, 0.0]  # log1p(rank 0)
    assert x[:, 1, rank] == pytest.approx(np.log1p([1.0, 1.0]))
    pop = FEATURES.index("log_popularity")  # taken as is; the scores are log-scaled
    assert x[0, 0, pop] == ev["log_popularity"][0, 5]
    walk = FEATURES.index("walk")
    assert x[0, 0, walk] == pytest.approx(np.log1p(10.0 * ev["walk"][0, 5]))


def test_more_candidates_than_items_takes_the_whole_catalogue():
    cand, _ = candidate_table(evidence(1, 4), 100)
    assert sorted(cand[0].tolist()) == [0, 1, 2, 3]


def test_listwise_training_learns_which_feature_marks_the_relevant_item():
    # 400 users x 20 candidates: the relevant one has the largest cross_max, all else is noise
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 20, len(FEATURES))).astype(np.float32)
    col = FEATURES.index("cross_max")
    best = x[:, :, col].argmax(axis=1)
    y = np.zeros((400, 20), dtype=np.float32)
    y[np.arange(400), best] = 1.0
    def accuracy(epochs: int) -> float:
        model = fit_reranker(x[:300], y[:300], RerankerConfig(candidates=20), epochs, seed=0)
        with torch.no_grad():
            top = model(torch.from_numpy(x[300:])).argmax(dim=1).numpy()
        return float((top == best[300:]).mean())

    assert accuracy(1) < 0.5 < 0.75 < accuracy(40)  # on held-out users; chance is 1/20


def test_pseudo_cold_labels_are_the_hidden_target_rows():
    rng = np.random.default_rng(2)
    source = sp.csr_matrix((rng.random((60, 15)) < 0.3).astype(np.float32))
    target = sp.csr_matrix((rng.random((60, 12)) < 0.3).astype(np.float32))
    config = RerankerConfig(candidates=12, signals=SignalsConfig(neighbours=5))
    x, y = pseudo_cold_table(source, target, config, folds=3, seed=0)
    # every candidate of a 12-item catalogue is listed, so each user's labels are its target row
    both = (source.getnnz(axis=1) > 0) & (target.getnnz(axis=1) > 0)
    assert len(x) == len(y) == both.sum()
    assert sorted(y.sum(axis=1).tolist()) == sorted(target[both].getnnz(axis=1).tolist())
    with pytest.raises(ValueError, match="at least 6 users"):
        pseudo_cold_table(source[:5], target[:5], config, folds=3, seed=0)


def test_too_few_users_to_learn_from_is_its_own_error():
    from crossrec.train.rerank import TooFewPseudoColdUsers

    with pytest.raises(TooFewPseudoColdUsers):
        fit_reranker(np.zeros((0, 5, len(FEATURES)), dtype=np.float32),
                     np.zeros((0, 5), dtype=np.float32), RerankerConfig(), epochs=1, seed=0)
