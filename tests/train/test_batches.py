"""Vectorised histories against a plain per-example reference."""

import numpy as np

from crossrec.data.domain import DomainData, recent_matrix
from crossrec.data.vocab import PAD
from crossrec.train.batches import histories


def test_recent_matrix_known_answer():
    hist = [np.array([5, 6, 7]), np.array([], dtype=np.int64), np.array([9])]
    assert recent_matrix(hist, 2).tolist() == [[6, 7], [PAD, PAD], [PAD, 9]]


def reference(train_hist, u, p, domains, max_len, hidden):
    """The definition: per domain, the user's history without the positive, last max_len."""
    out = []
    for d in domains:
        if d in hidden:
            continue
        h = train_hist[d][u]
        out += h[h != p][-max_len:].tolist()
    return sorted(out)


def test_histories_equal_the_definition_on_random_data():
    rng = np.random.default_rng(0)
    n_users, max_len = 200, 4
    train_hist = {d: [rng.permutation(np.arange(lo, lo + 30))[: rng.integers(0, 9)] + 0
                      for _ in range(n_users)] for d, lo in (("a", 1), ("b", 100))}
    data = DomainData.__new__(DomainData)
    data.train_hist, data._recent = train_hist, {}
    users = rng.integers(0, n_users, size=500)
    held = np.array([train_hist["b"][u][rng.integers(len(train_hist["b"][u]))]
                     if len(train_hist["b"][u]) else 999 for u in users])
    hide = {"b": rng.random(500) < 0.3}
    got = histories(data, users, held, ("a", "b"), max_len, hide).numpy()
    for i, (u, p) in enumerate(zip(users, held, strict=True)):
        hidden = {"b"} if hide["b"][i] else set()
        assert sorted(got[i][got[i] != PAD].tolist()) == reference(
            train_hist, u, p, ("a", "b"), max_len, hidden)
