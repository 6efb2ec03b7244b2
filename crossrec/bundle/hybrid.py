"""Our model's final score: the two-tower score fused with the item graph's.

Both are standardised per user (zero mean, unit variance over the target catalogue) before a
weighted sum, so the weight means the same thing for every user and model version. The weight
is chosen on the cold *validation* users (model selection, never the test users) and saved in
the bundle's config. Users without target rows also get a popularity prior beside the graph
score (its weight chosen by cross-validation, see ``crossrec/bundle/crossval.py``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from crossrec.data.sparse import interaction_matrix
from crossrec.models.item_graph import ItemGraph
from crossrec.models.tower_recommender import ModelRecommender
from crossrec.ranking.explain import explain
from crossrec.ranking.recommender import Recommender


def standardise(scores: torch.Tensor) -> torch.Tensor:
    """Per-row z-scores; a constant row becomes all zeros."""
    mean = scores.mean(dim=1, keepdim=True)
    std = scores.std(dim=1, keepdim=True).nan_to_num(0.0)
    return (scores - mean) / std.clamp_min(1e-12) * (std > 0)


def log_popularity(target_rows: sp.csr_matrix) -> torch.Tensor:
    """z-score over the catalogue of log(1 + users per target item), on the scale of the
    z-scored graph score it is added to; all zeros when every item is equally popular."""
    counts = np.asarray((target_rows > 0).sum(axis=0), dtype=np.float64).ravel()
    logs = np.log1p(counts)
    std = logs.std()
    z = (logs - logs.mean()) / std if std > 0 else np.zeros_like(logs)
    return torch.from_numpy(z.astype(np.float32))


class HybridRecommender(Recommender):
    """``(1 - weight) * z(two-tower) + weight * z(item graph)``; weight 0 is the two-tower
    model alone, 1 the graph alone (the two-tower then only orders items the graph ties).

    ``popularity`` > 0 adds ``weight * popularity * z(log(1 + count))`` for users without
    target rows: popularity counted over the rows being scored, as the graph's scores are."""

    score_copies = 5  # tower, graph, their z-scores and the sum

    def __init__(self, model_rec: ModelRecommender, graph: ItemGraph, weight: float,
                 popularity: float = 0.0):
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"fusion weight must be in [0, 1], got {weight}")
        if popularity < 0.0:
            raise ValueError(f"popularity weight must be >= 0, got {popularity}")
        self.model_rec, self.graph, self.weight = model_rec, graph, weight
        self.data, self.which = model_rec.data, model_rec.which
        self.popularity = popularity
        self._prior: torch.Tensor | None = None

    def prior(self) -> torch.Tensor:
        """The popularity prior over the target catalogue (computed once)."""
        if self._prior is None:
            data = self.data
            hist = data.train_hist if self.which == "train" else data.all_hist
            t0, t1 = data.vocab.domain_ranges[1]
            self._prior = log_popularity(interaction_matrix(hist[data.target], t0, t1 - t0))
        return self._prior

    def graph_scores(self, users: np.ndarray) -> torch.Tensor:
        data = self.data
        hist = data.train_hist if self.which == "train" else data.all_hist
        (s0, s1), (t0, t1) = data.vocab.domain_ranges
        src = interaction_matrix([hist[data.source][u] for u in users], s0, s1 - s0)
        tgt = interaction_matrix([hist[data.target][u] for u in users], t0, t1 - t0)
        return torch.from_numpy(self.graph.scores(src, tgt))

    def score(self, users: np.ndarray) -> torch.Tensor:
        tower = self.model_rec.score(users).float()
        if self.weight == 0.0:
            return tower
        fused = self.weight * standardise(self.graph_scores(users).float())
        if self.popularity > 0.0:
            hist = self.data.train_hist if self.which == "train" else self.data.all_hist
            cold = torch.tensor([len(hist[self.data.target][u]) == 0 for u in users])
            if cold.any():
                fused[cold] += (self.weight * self.popularity) * self.prior()
        # at weight 1 the tower still breaks the graph's ties, with a vanishing share
        share = max(1.0 - self.weight, 1e-3)
        return fused + share * standardise(tower)

    def explain(self, users: np.ndarray, cols: np.ndarray, n: int) -> np.ndarray:
        """Each source item's exact additive term in the graph score, ``W[i, j]``."""
        data = self.data
        s0 = data.vocab.domain_ranges[0][0]
        hist = [data.all_hist[data.source][u] - s0 for u in users]
        local = explain(hist, cols, n, graph=self.graph.source_to_target)
        return np.where(local >= 0, local + s0, -1)
