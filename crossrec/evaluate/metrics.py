"""Ranking metrics over full rankings, vectorised over a block of users.

Conventions: binary gains; a user's truth size counts every held-out item, including ones that
are not rankable (not in the training catalogue), so unreachable items cost recall and IDCG
rather than being quietly dropped; a user with no rankable truth scores 0 on every metric.
Excluded candidates must already carry a score of ``-inf``.
"""

from __future__ import annotations

import numpy as np
import torch

METRICS = ("ndcg@10", "recall@20", "hr@10", "mrr")


def relevance_matrix(truth: list[np.ndarray], n_items: int) -> torch.Tensor:
    """Dense (users, items) bool matrix from per-user lists of relevant column indices."""
    rel = torch.zeros((len(truth), n_items), dtype=torch.bool)
    rows = np.repeat(np.arange(len(truth)), [len(t) for t in truth])
    cols = np.concatenate(truth) if truth else np.zeros(0, dtype=np.int64)
    rel[torch.from_numpy(rows), torch.from_numpy(cols.astype(np.int64))] = True
    return rel


def ranking_metrics(scores: torch.Tensor, truth: list[np.ndarray],
                    truth_sizes: np.ndarray) -> dict[str, np.ndarray]:
    """Per-user NDCG@10, Recall@20, HR@10 and MRR for one block of users."""
    scores = scores.float()
    n, m = scores.shape
    rel = relevance_matrix(truth, m)
    k = min(20, m)
    top = torch.topk(scores, k, dim=1).indices
    hits = rel.gather(1, top).float()
    # an excluded (-inf) item is never a hit even if it sits in a short catalogue's top-k
    hits = hits * torch.isfinite(scores.gather(1, top)).float()
    sizes = torch.as_tensor(truth_sizes, dtype=torch.float32)
    discounts = 1.0 / torch.log2(torch.arange(2, 12, dtype=torch.float32))[: min(10, k)]
    dcg = (hits[:, : len(discounts)] * discounts).sum(1)
    ideal_n = sizes.clamp(max=len(discounts)).long()
    idcg = torch.cumsum(discounts, 0)[(ideal_n - 1).clamp(min=0)] * (ideal_n > 0)
    ndcg = torch.where(idcg > 0, dcg / idcg.clamp_min(1e-12), torch.zeros_like(dcg))
    recall = torch.where(sizes > 0, hits.sum(1) / sizes.clamp_min(1), torch.zeros_like(dcg))
    hr = (hits[:, :10].sum(1) > 0).float()
    best = torch.where(rel, scores, torch.full_like(scores, -torch.inf)).max(1).values
    rank = 1 + (scores > best.unsqueeze(1)).sum(1)
    mrr = torch.where(torch.isfinite(best), 1.0 / rank.float(), torch.zeros_like(dcg))
    return {"ndcg@10": ndcg.numpy(), "recall@20": recall.numpy(), "hr@10": hr.numpy(),
            "mrr": mrr.numpy()}
