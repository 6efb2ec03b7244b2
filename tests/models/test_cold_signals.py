"""Cold-user evidence: hand-computed signals, and no leak of a held-out user's target rows."""

import math

import numpy as np
import pytest
import scipy.sparse as sp

from crossrec.data.sparse import largest_per_column
from crossrec.models.cold_signals import SIGNALS, ColdSignals, SignalsConfig


def rows(lists: list[list[int]], width: int) -> sp.csr_matrix:
    m = sp.lil_matrix((len(lists), width), dtype=np.float32)
    for r, cols in enumerate(lists):
        for c in cols:
            m[r, c] = 1.0
    return m.tocsr()


# users 0-2 are fit users; user 3 is held out (its target rows must never count)
SOURCE = rows([[0], [0, 1], [1], [0, 1]], 3)
TARGET = rows([[0], [0, 1], [2], [1, 2]], 3)
FIT = np.array([0, 1, 2])


def test_item_to_item_signals_known_answer():
    sig = ColdSignals.build(SOURCE, TARGET, FIT, SignalsConfig(neighbours=1, shrink=0.0, top=1))
    # cosine over fit users: s0 = {u0,u1}, s1 = {u1,u2}; t0 = {u0,u1}, t1 = {u1}, t2 = {u2}
    cos = sig.cross.toarray()
    assert cos[0].tolist() == pytest.approx([1.0, 1 / math.sqrt(2), 0.0])
    assert cos[1].tolist() == pytest.approx([0.5, 1 / math.sqrt(2), 1 / math.sqrt(2)])
    ev = sig.evidence(rows([[0, 1]], 3))
    assert set(ev) == set(SIGNALS)
    assert ev["cross_sum"][0] == pytest.approx(cos.sum(0))
    assert ev["cross_max"][0] == pytest.approx(cos.max(0))
    assert ev["cross_mean"][0] == pytest.approx(cos.sum(0) / 2)
    # top=1 keeps s0 -> t0 (1.0) and s1's first-listed maximum, t1 (tie with t2, lower column)
    assert ev["cross_top"][0] == pytest.approx([1.0, 1 / math.sqrt(2), 0.0])
    assert ev["log_popularity"][0] == pytest.approx(np.log1p([2, 1, 1]))
    assert ev["history"][0].tolist() == [2, 2, 2]


def test_user_knn_sums_the_most_similar_fit_users_target_rows():
    sig = ColdSignals.build(SOURCE, TARGET, FIT, SignalsConfig(neighbours=1, shrink=0.0))
    # a user with source item 1 only: its nearest fit user is u2 (source {1}, cosine 1)
    ev = sig.evidence(rows([[1]], 3))
    assert ev["user_knn"][0] == pytest.approx([0.0, 0.0, 1.0])
    wide = ColdSignals.build(SOURCE, TARGET, FIT, SignalsConfig(neighbours=3, shrink=0.0))
    knn = wide.evidence(rows([[1]], 3))["user_knn"][0]
    # u1 also shares item 1 (lower similarity), u0 shares nothing
    assert knn[2] > knn[1] == knn[0] > 0.0


def test_a_held_out_users_target_rows_never_reach_the_evidence():
    config = SignalsConfig(neighbours=3)
    before = ColdSignals.build(SOURCE, TARGET, FIT, config).evidence(SOURCE[[3]])
    changed = TARGET.tolil()
    changed[3, :] = 1.0
    after = ColdSignals.build(SOURCE, changed.tocsr(), FIT, config).evidence(SOURCE[[3]])
    for name in SIGNALS:
        assert np.array_equal(before[name], after[name]), name


def test_no_fit_users_is_a_clear_error():
    with pytest.raises(ValueError, match="fit users"):
        ColdSignals.build(SOURCE, TARGET, np.array([], dtype=np.int64))


def test_largest_per_column_over_each_users_items():
    matrix = sp.csr_matrix(np.array([[2, 1], [1, 3]], dtype=np.float32))
    users = rows([[0, 1], [0], []], 2)
    assert largest_per_column(users, matrix).tolist() == [[2, 3], [2, 1], [0, 0]]
