"""Co-occurrence kNN blended with popularity, the blend weight tuned on cold_val."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from crossrec.data.domain import DomainData
from crossrec.data.sparse import TARGET, domain_matrix
from crossrec.evaluate.baselines.cooccurrence import CooccurrenceKNN
from crossrec.evaluate.baselines.tuning import TunedRecommender, grid


def zscore_rows(scores: torch.Tensor) -> torch.Tensor:
    """Each row minus its mean over its standard deviation (constant rows become 0)."""
    mean = scores.mean(dim=1, keepdim=True)
    std = scores.std(dim=1, unbiased=False, keepdim=True)
    return torch.where(std > 0, (scores - mean) / std.clamp_min(1e-12), torch.zeros(()))


class CoocPopBlend(TunedRecommender):
    """``(1 - w) z(kNN) + w z(log popularity)``: per-user z-scores of :class:`CooccurrenceKNN`'s
    scores and of log(1 + training interactions) per target item.

    A cold user with few source items gets a handful of non-zero kNN scores and a long tie
    behind them; popularity orders that tail (and, at larger ``w``, overrides weak evidence).
    ``w`` = 0 is the plain kNN (the simplest, kept on ties).
    """

    def __init__(self, data: DomainData,
                 weights: Sequence[float] = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95),
                 **knn):
        self.data = data
        self.knn = CooccurrenceKNN(data, **knn)
        counts = np.asarray(domain_matrix(data, TARGET, binary=False).sum(axis=0)).ravel()
        self._pop = zscore_rows(torch.from_numpy(np.log1p(counts).astype(np.float32))[None])
        self.weight = 0.0
        self.tune(grid(weight=weights))

    def configure(self, weight: float) -> None:
        self.weight = weight

    def score(self, users: np.ndarray) -> torch.Tensor:
        z = zscore_rows(self.knn.score(users))
        return (1 - self.weight) * z + self.weight * self._pop
