"""Baselines behind the same ``Recommender`` interface as our model."""

from __future__ import annotations

import numpy as np
import torch

from crossrec.score.recommender import Recommender
from crossrec.train.data import DomainData


class Popularity(Recommender):
    """Ranks target items by their number of training interactions (same list for everyone)."""

    def __init__(self, data: DomainData):
        self.data = data
        start, stop = data.vocab.domain_ranges[1]
        counts = np.zeros(stop - start, dtype=np.float32)
        for hist in data.train_hist[data.target]:
            np.add.at(counts, hist - start, 1.0)
        self._counts = torch.from_numpy(counts)

    def user_matrix(self, users: np.ndarray) -> torch.Tensor:
        return torch.ones((len(users), 1))

    def item_matrix(self) -> torch.Tensor:
        return self._counts.unsqueeze(1)
