"""Popularity: the non-personalised floor every method must clear."""

from __future__ import annotations

import numpy as np
import torch

from crossrec.data.domain import DomainData
from crossrec.data.sparse import domain_matrix
from crossrec.ranking.recommender import FactorisedRecommender


class Popularity(FactorisedRecommender):
    """Ranks target items by their number of training interactions (same list for everyone)."""

    def __init__(self, data: DomainData):
        self.data = data
        counts = np.asarray(domain_matrix(data, 1, binary=False).sum(axis=0)).ravel()
        self._counts = torch.from_numpy(counts.astype(np.float32))

    def user_matrix(self, users: np.ndarray) -> torch.Tensor:
        return torch.ones((len(users), 1))

    def item_matrix(self) -> torch.Tensor:
        return self._counts.unsqueeze(1)
