"""Which item graph cold users get, and how much popularity prior beside it: chosen by
cross-validation over the users in both domains, not on the cold validation users.

A cold user's graph score is the evidence their source items carry about target items. How
best to read that evidence depends on the data: the random walk (RP3beta, its exponents) or
plain item cosine kNN, and how much the catalogue's popularity should order what the evidence
leaves tied or weak (``weight * popularity * z(log(1 + count))`` added to the z-scored graph
score of a user without target rows). Where few users are in both domains, evidence is thin
and popularity ranks better; where many are, it only blurs it.

Where few users are in both domains there are also only a few dozen cold validation users,
and their NDCG@10 cannot tell these choices apart (measured on phone->sport with a tenth of
the users in both domains: the 32 validation users scored the prior's weight 10 at 0.0180
against 0.0346 without it; the 990 hidden users of the blind benchmark, 0.0304 against
0.0234). So every training user with rows in both domains is a pseudo-cold user instead, as
for the reranker: the users are split into folds; for each fold every candidate graph and the
popularity counts are rebuilt without the fold's target rows, and the fold's users, scored
from their source rows alone, are ranked against their hidden target rows. The best
(graph, prior weight) pair by mean NDCG@10 is kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch

from crossrec.bundle.config import GraphPart
from crossrec.bundle.hybrid import log_popularity, standardise
from crossrec.data.domain import DomainData
from crossrec.data.sparse import SOURCE, TARGET, domain_matrix
from crossrec.metrics.ranking import ranking_metrics

BLOCK = 512
"""Pseudo-cold users scored at once (a few dense users x target-catalogue arrays)."""
MAX_USERS = 20_000
"""Most pseudo-cold users ranked (a random subset beyond): the choices' NDCG@10 differ by far
more than the noise of 20,000 users, and the time stays bounded on large data."""

Choice = tuple[int, float]
"""(index into the candidate graphs, popularity weight)."""


def candidates(alphas: Sequence[float], betas: Sequence[float],
               neighbours: Sequence[int], shrink: float) -> list[GraphPart]:
    """The graphs to choose from, walks first (on a tie the earlier is kept); their fusion
    weight is a placeholder, chosen afterwards on the cold validation users."""
    walks = [GraphPart(alpha=a, beta=b, weight=1.0) for a in alphas for b in betas]
    return walks + [GraphPart(kind="cosine", neighbours=k, shrink=shrink, weight=1.0)
                    for k in neighbours]


def cross_validate(data: DomainData, parts: Sequence[GraphPart], weights: Sequence[float],
                   folds: int, seed: int) -> dict[Choice, float]:
    """Mean NDCG@10 of ``z(graph) + weight * z(log popularity)`` for each candidate graph and
    prior weight over the pseudo-cold users of ``folds`` folds (every training user with rows
    in both domains, at most :data:`MAX_USERS` of them ranked); empty when fewer than two per
    fold exist."""
    source, target = domain_matrix(data, SOURCE), domain_matrix(data, TARGET)
    both = np.flatnonzero((source.getnnz(axis=1) > 0) & (target.getnnz(axis=1) > 0))
    if len(both) < 2 * folds:
        return {}
    totals = np.zeros((len(parts), len(weights)))
    rng = np.random.default_rng(seed)
    ranked = 0
    for held in np.array_split(rng.permutation(both), folds):
        keep = np.ones(target.shape[0], dtype=np.float32)
        keep[held] = 0.0
        visible = (sp.diags(keep) @ target).tocsr()
        visible.eliminate_zeros()
        prior = log_popularity(visible)
        scored = np.sort(held[:MAX_USERS // folds])  # the fold is already in random order
        ranked += len(scored)
        truth = [target[u].indices for u in scored]
        for p, part in enumerate(parts):
            to_target, _ = part.weights(source, visible)
            for b in range(0, len(scored), BLOCK):
                users = scored[b:b + BLOCK]
                graph = standardise(torch.from_numpy((source[users] @ to_target).toarray()))
                fold_truth = truth[b:b + BLOCK]
                sizes = np.array([len(t) for t in fold_truth])
                for i, w in enumerate(weights):
                    ndcg = ranking_metrics(graph + w * prior, fold_truth, sizes)["ndcg@10"]
                    totals[p, i] += float(np.sum(ndcg))
    return {(p, float(w)): float(totals[p, i] / ranked)
            for p in range(len(parts)) for i, w in enumerate(weights)}


def choose(scores: dict[Choice, float]) -> Choice | None:
    """The choice with the best cross-validated NDCG@10, the earlier (candidate order, then
    weight order) on a tie; None when nothing was cross-validated."""
    return max(scores, key=scores.get) if scores else None  # max keeps the first of equals
