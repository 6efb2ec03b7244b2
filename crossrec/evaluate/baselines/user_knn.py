"""User kNN across domains: the target rows of the users whose source rows look alike."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch

from crossrec.data.domain import DomainData
from crossrec.data.sparse import l2_rows
from crossrec.evaluate.baselines.bridge import BridgeRows
from crossrec.evaluate.baselines.tuning import TunedRecommender, grid


def top_k_per_row(sim: np.ndarray, k: int) -> np.ndarray:
    """``sim`` with all but each row's ``k`` largest entries zeroed; ties go to the lower
    column, so a row's result does not depend on the other rows of its batch."""
    if k >= sim.shape[1]:
        return sim
    order = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    out = np.zeros_like(sim)
    rows = np.arange(len(sim))[:, None]
    out[rows, order] = sim[rows, order]
    return out


class UserKNN(TunedRecommender):
    """Cosine between a user's binary source row and each bridge user's; the score of target
    item ``t`` sums the similarities of the ``k`` most similar bridge users who have ``t`` in
    their target rows (``k`` tuned). A bridge user is never their own neighbour. Users with
    target rows add the within-target item kNN of :class:`BridgeRows`."""

    def __init__(self, data: DomainData, ks: Sequence[int] = (20, 50, 100, 400, 1000)):
        self.data = data
        self._rows = BridgeRows(data)
        self._basis = l2_rows(self._rows.bridge_source()).T.tocsr().astype(np.float32)
        self._basis_target = self._rows.bridge_target().astype(np.float32)
        # the (users x bridge users) similarities are a third dense block beside the scores
        self.score_copies = 2 + -(-len(self._rows.bridge) // self._n_target())
        self.k = ks[0]
        self.tune(grid(k=ks))

    def _n_target(self) -> int:
        return self._rows.target.shape[1]

    def configure(self, k: int) -> None:
        self.k = k

    def score(self, users: np.ndarray) -> torch.Tensor:
        users = np.asarray(users, dtype=np.int64)
        sim = (l2_rows(self._rows.source[users]) @ self._basis).toarray()
        own = self._rows.bridge_position(users)
        mine = np.flatnonzero(own >= 0)
        sim[mine, own[mine]] = 0.0
        sim = top_k_per_row(sim, self.k)
        scores = (sp.csr_matrix(sim) @ self._basis_target).toarray() + self._rows.warm(users)
        return torch.from_numpy(np.asarray(scores, dtype=np.float32))
