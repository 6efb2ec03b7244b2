"""bench/ceiling.py's counting helpers on hand-made matrices."""

import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from ceiling import exact_twins, pessimistic_ranks  # noqa: E402

# users x items; u0 and u1 bought s0 and t0 (a twin pair); u1 also s1 + t1, u2 s1 only
XS = sp.csr_matrix(np.array([[1, 0], [1, 1], [0, 1]], dtype=np.float32))
XT = sp.csr_matrix(np.array([[1, 0], [1, 1], [0, 0]], dtype=np.float32))


def test_exact_twins_need_the_same_buyers_on_both_sides():
    counts, twins = exact_twins(XS, XT)
    assert counts.toarray().tolist() == [[2, 1], [1, 1]]
    # s0/t0: both bought by u0 and u1; s1 has a buyer (u2) that t1 lacks, s0/t1 differ too
    assert twins.toarray().tolist() == [[1, 0], [0, 0]]


def test_pessimistic_ranks_put_a_relevant_item_after_its_ties():
    scores = np.array([[0.5, 0.9, 0.5, 0.1], [0.0, 0.0, 0.0, 1.0]])
    ranks = pessimistic_ranks(scores, np.array([0, 0, 1]), np.array([1, 2, 0]))
    assert ranks.tolist() == [1, 3, 4]
