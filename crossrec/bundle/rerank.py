"""Our model for cold-start users: the base model's ranking with its top reordered by the
reranker.

Users without target rows get the reranker's order over their candidates, placed above every
other item, which keeps the base model's order; users with target rows get the base scores
unchanged (the reranker learned from source rows only).
"""

from __future__ import annotations

import numpy as np
import torch

from crossrec.bundle.hybrid import standardise
from crossrec.data.domain import DomainData
from crossrec.data.sparse import (
    SOURCE,
    TARGET,
    domain_matrix,
    interaction_matrix,
    overlap_users,
)
from crossrec.models.cold_signals import ColdSignals, SignalsConfig
from crossrec.models.reranker import Reranker, candidate_table
from crossrec.ranking.recommender import Recommender


def fit_signals(data: DomainData, config: SignalsConfig) -> ColdSignals:
    """Signals over every user with training rows in both domains of ``data``."""
    source, target = domain_matrix(data, SOURCE), domain_matrix(data, TARGET)
    return ColdSignals.build(source, target, overlap_users(source, target), config)


class RerankedRecommender(Recommender):
    """``base`` with its cold users' top ``candidates`` items reordered by ``reranker``."""

    score_copies = 16  # the evidence arrays, ranks and the base scores

    def __init__(self, base: Recommender, reranker: Reranker, signals: ColdSignals):
        self.base, self.reranker, self.signals = base, reranker, signals
        self.data = base.data
        self.which = getattr(base, "which", "train")

    def score(self, users: np.ndarray) -> torch.Tensor:
        scores = self.base.score(users).float()
        data = self.data
        hist = data.train_hist if self.which == "train" else data.all_hist
        cold = np.flatnonzero([len(hist[data.target][u]) == 0 for u in users])
        if not len(cold):
            return scores
        start, stop = data.vocab.domain_ranges[SOURCE]
        rows = interaction_matrix([hist[data.source][u] for u in users[cold]], start,
                                  stop - start)
        cand, x = candidate_table(self.signals.evidence(rows), self.reranker.config.candidates)
        with torch.no_grad():
            learned = self.reranker(torch.from_numpy(x))
        at = torch.from_numpy(cold)
        base = scores[at]
        finite = torch.where(base.isfinite(), base, torch.zeros_like(base))
        weight = self.reranker.config.base_weight
        if weight > 0:  # the learned model's say in the order, on the same per-user scale
            known = finite.gather(1, torch.from_numpy(cand))
            learned = standardise(learned) + weight * standardise(known)
        # candidates above every other item, in the reranker's order
        lift = finite.max(dim=1, keepdim=True).values + 1.0
        learned = learned - learned.min(dim=1, keepdim=True).values
        base.scatter_(1, torch.from_numpy(cand), lift + learned)
        scores[at] = base
        return scores

    def explain(self, users: np.ndarray, cols: np.ndarray, n: int) -> np.ndarray:
        """Reordered, but the base model still says why."""
        return self.base.explain(users, cols, n)
