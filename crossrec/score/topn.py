"""Exact top-k over a dot-product catalogue, streamed over user blocks.

Memory is bounded by ``block * n_items`` scores, whatever the number of users. Each user's
already-seen items are excluded by setting their scores to ``-inf`` before selection.
"""

from __future__ import annotations

import numpy as np
import torch


def mask_seen_(scores: torch.Tensor, seen: list[np.ndarray]) -> torch.Tensor:
    """Set ``scores[i, seen[i]] = -inf`` in place (``seen`` holds column indices)."""
    lengths = [len(s) for s in seen]
    if sum(lengths):
        rows = torch.from_numpy(np.repeat(np.arange(len(seen)), lengths))
        cols = torch.from_numpy(np.concatenate(seen).astype(np.int64))
        scores[rows, cols] = -torch.inf
    return scores


def topn(user_vectors: torch.Tensor, item_vectors: torch.Tensor, k: int,
         seen: list[np.ndarray] | None = None, block: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and scores of each user's best ``k`` items, best first.

    Rows with fewer than ``k`` unseen items are padded with index -1 and score ``-inf``.
    """
    n, m = user_vectors.shape[0], item_vectors.shape[0]
    kk = min(k, m)
    ids = np.full((n, k), -1, dtype=np.int64)
    vals = np.full((n, k), -np.inf, dtype=np.float32)
    items_t = item_vectors.T.contiguous()
    for start in range(0, n, block):
        stop = min(start + block, n)
        scores = (user_vectors[start:stop] @ items_t).float()
        if seen is not None:
            mask_seen_(scores, seen[start:stop])
        top = torch.topk(scores, kk, dim=1)
        v = top.values.cpu().numpy()
        i = top.indices.cpu().numpy()
        i[~np.isfinite(v)] = -1
        ids[start:stop, :kk] = i
        vals[start:stop, :kk] = v
    return ids, vals
