"""Ranking metrics over full rankings, vectorised over a block of users.

Conventions: binary gains; a user's truth size counts every held-out item, including ones that
are not rankable (not in the training catalogue), so unreachable items cost recall and IDCG
rather than being quietly dropped; a user with no rankable truth scores 0 on every metric.
Excluded candidates must already carry a score of ``-inf`` and are never hits, even when a
catalogue shorter than the cut-off puts them in the top-k.

IDCG@10 sums the first ``min(truth size, 10)`` discounts whatever the catalogue size, so a
catalogue shorter than 10 items cannot make up for truth it cannot rank.

Ties are broken pessimistically, and the same way for every metric: a relevant item that ties
with non-relevant items is ranked after all of them. ``torch.topk`` orders ties arbitrarily and
"rank = 1 + #strictly greater" is optimistic, so either on its own would reward a model for
emitting equal scores (a constant model would get MRR 1.0). With binary gains the order among
tied relevant items (or among tied non-relevant ones) changes nothing, so this order is total
enough to define every metric.
"""

from __future__ import annotations

import numpy as np
import torch

METRICS = ("ndcg@10", "recall@20", "hr@10", "mrr")
NDCG_K, RECALL_K, HR_K = 10, 20, 10


def _truth_coords(truth: list[np.ndarray], n_items: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(row, column) of every distinct relevant item, sorted by row."""
    rows = np.repeat(np.arange(len(truth), dtype=np.int64), [len(t) for t in truth])
    cols = (np.concatenate(truth) if truth else np.zeros(0)).astype(np.int64)
    # a negative index would silently wrap to the end of the catalogue
    if cols.size and (cols.min() < 0 or cols.max() >= n_items):
        raise ValueError(f"truth indices must lie in [0, {n_items}); "
                         f"got {cols.min()}..{cols.max()}")
    # a duplicated held-out item is one relevant item, not two
    width = max(n_items, 1)
    pairs = np.unique(rows * width + cols)
    return torch.from_numpy(pairs // width), torch.from_numpy(pairs % width)


def _relevant_ties(values: torch.Tensor, rows: torch.Tensor,
                   rel_scores: torch.Tensor) -> torch.Tensor:
    """``out[u, j]`` = how many of user u's relevant items score exactly ``values[u, j]``."""
    eq = (rel_scores.unsqueeze(1) == values[rows]).long()
    return torch.zeros(values.shape, dtype=torch.long).index_add_(0, rows, eq)


def _pessimistic_hits(scores: torch.Tensor, rows: torch.Tensor, rel_scores: torch.Tensor,
                      k: int) -> torch.Tensor:
    """(users, k) bool: is position p of the pessimistically tie-broken ranking relevant?

    Only the top-k *values* are needed: within a run of equal scores the non-relevant items
    come first, so position p is a hit iff its offset in the run is >= the run's count of
    non-relevant items. Costs one top-k and one comparison pass over the block.
    """
    top = torch.topk(scores, k, dim=1).values  # sorted descending
    # every item above a top-k value is itself in the top-k, so counts inside it are exact
    start = (top.unsqueeze(1) > top.unsqueeze(2)).sum(2)
    tied = (top.unsqueeze(1) == top.unsqueeze(2)).sum(2)
    # ...except for the k-th value, whose ties may spill past the cut-off
    last = top[:, -1:]
    tied = torch.where(top == last, (scores == last).sum(1, keepdim=True), tied)
    non_relevant_tied = tied - _relevant_ties(top, rows, rel_scores)
    offset = torch.arange(k) - start
    return (offset >= non_relevant_tied) & (top > -torch.inf)


def _pessimistic_reciprocal_rank(scores: torch.Tensor, rows: torch.Tensor,
                                 rel_scores: torch.Tensor) -> torch.Tensor:
    """1 / rank of each user's best relevant item, ranked after its non-relevant ties."""
    best = torch.full((scores.shape[0],), -torch.inf).scatter_reduce(0, rows, rel_scores, "amax")
    at_least = (scores >= best.unsqueeze(1)).sum(1)
    # rank = #greater + #non-relevant ties + 1 = #at-least - #relevant ties + 1
    rank = at_least - _relevant_ties(best.unsqueeze(1), rows, rel_scores).squeeze(1) + 1
    return torch.where(best > -torch.inf, 1.0 / rank.float(), torch.zeros_like(best))


def ranking_metrics(scores: torch.Tensor, truth: list[np.ndarray],
                    truth_sizes: np.ndarray) -> dict[str, np.ndarray]:
    """Per-user NDCG@10, Recall@20, HR@10 and MRR for one block of users.

    ``scores`` is (users, items) with excluded items at ``-inf``; ``truth[u]`` holds user u's
    rankable held-out columns; ``truth_sizes[u]`` counts all of u's held-out items.
    """
    scores = scores.float()
    n, m = scores.shape
    sizes = torch.as_tensor(np.asarray(truth_sizes), dtype=torch.float32).reshape(-1)
    if len(truth) != n or len(sizes) != n:
        raise ValueError(f"{n} score rows but {len(truth)} truth lists, {len(sizes)} sizes")
    if torch.isnan(scores).any():
        raise ValueError("scores contain NaN; ranking would be undefined")
    rows, cols = _truth_coords(truth, m)
    if (sizes < torch.bincount(rows, minlength=n)).any():
        raise ValueError("truth_sizes must count at least every rankable truth item")
    rel_scores = scores[rows, cols]

    hits = _pessimistic_hits(scores, rows, rel_scores, min(RECALL_K, m)).float()
    discounts = 1.0 / torch.log2(torch.arange(2, NDCG_K + 2, dtype=torch.float32))
    dcg = (hits[:, :NDCG_K] * discounts[: hits[:, :NDCG_K].shape[1]]).sum(1)
    # ideal list: min(|truth|, 10) hits on top; index 0 of the padded cumsum is "no truth"
    idcg = torch.cat([torch.zeros(1), torch.cumsum(discounts, 0)])[sizes.clamp(max=NDCG_K).long()]
    zeros = torch.zeros(n)
    ndcg = torch.where(idcg > 0, dcg / idcg.clamp_min(1e-12), zeros)
    recall = torch.where(sizes > 0, hits.sum(1) / sizes.clamp_min(1), zeros)
    hr = (hits[:, :HR_K].sum(1) > 0).float()
    mrr = _pessimistic_reciprocal_rank(scores, rows, rel_scores)
    return {"ndcg@10": ndcg.numpy(), "recall@20": recall.numpy(), "hr@10": hr.numpy(),
            "mrr": mrr.numpy()}
