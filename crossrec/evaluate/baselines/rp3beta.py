"""RP3beta (Paudel et al., 2017): an item -> user -> item walk from source to target items."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch

from crossrec.data.domain import DomainData
from crossrec.data.sparse import SOURCE, TARGET, domain_matrix, keep_top_per_row, overlap_users
from crossrec.evaluate.baselines.tuning import TunedRecommender, grid
from crossrec.models.item_graph import walk_weights


class RP3beta(TunedRecommender):
    """Walk weights ``W[i, j] = sum_v P(i -> v)^alpha P(v -> j)^alpha / popularity(j)^beta``
    over every user's binary training rows of both domains, ``alpha`` and ``beta`` tuned.

    A user's score for target item ``j`` sums W over their source items (all a cold user has)
    and, for users with target training rows, over their target items (within-target walk, no
    self-loops). Each item keeps its ``neighbours`` largest weights, so W stays sparse.
    """

    def __init__(self, data: DomainData, alphas: Sequence[float] = (0.5, 1.0),
                 betas: Sequence[float] = (0.0, 0.2, 0.4), neighbours: int | None = 100):
        self.data = data
        self._source = domain_matrix(data, SOURCE)
        self._target = domain_matrix(data, TARGET)
        overlap_users(self._source, self._target)
        self.neighbours = neighbours
        popularity = np.asarray(self._target.sum(axis=0)).ravel()
        self._popularity = np.maximum(popularity, 1.0)
        # beta only rescales target columns: one walk per alpha serves every beta
        self._walks = {a: walk_weights(self._source, self._target, a, 0.0) for a in alphas}
        self.tune(grid(alpha=alphas, beta=betas))
        del self._walks  # only the chosen point's weights are kept

    def configure(self, alpha: float, beta: float) -> None:
        discount = sp.diags((1.0 / self._popularity ** beta).astype(np.float32))
        st, tt = self._walks[alpha]
        self._st = keep_top_per_row((st @ discount).tocsr(), self.neighbours)
        self._tt = keep_top_per_row((tt @ discount).tocsr(), self.neighbours)

    def score(self, users: np.ndarray) -> torch.Tensor:
        scores = self._source[users] @ self._st + self._target[users] @ self._tt
        return torch.from_numpy(np.asarray(scores.todense(), dtype=np.float32))
