"""Exact top-k over a catalogue, streamed over user blocks.

Memory is bounded by ``block * n_items`` scores, whatever the number of users. Each user's
already-seen items are excluded by setting their scores to ``-inf`` before selection.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

ScoreBlock = Callable[[int, int], torch.Tensor]
"""``(start, stop) -> (stop - start, n_items)`` scores of users ``start:stop``."""


def mask_seen_(scores: torch.Tensor, seen: list[np.ndarray]) -> torch.Tensor:
    """Set ``scores[i, seen[i]] = -inf`` in place (``seen`` holds column indices)."""
    lengths = [len(s) for s in seen]
    if sum(lengths):
        rows = torch.from_numpy(np.repeat(np.arange(len(seen)), lengths))
        cols = torch.from_numpy(np.concatenate(seen).astype(np.int64))
        scores[rows, cols] = -torch.inf
    return scores


def blocked_topk(score_block: ScoreBlock, n_users: int, k: int,
                 seen: list[np.ndarray] | None = None,
                 block: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and scores of each user's best ``k`` items, best first.

    ``score_block`` must return a tensor the caller may overwrite (seen items are masked in
    place). Rows with fewer than ``k`` unseen items are padded with index -1 and score ``-inf``.
    """
    ids = np.full((n_users, k), -1, dtype=np.int64)
    vals = np.full((n_users, k), -np.inf, dtype=np.float32)
    for start in range(0, n_users, block):
        stop = min(start + block, n_users)
        scores = score_block(start, stop).float()
        if seen is not None:
            mask_seen_(scores, seen[start:stop])
        top = torch.topk(scores, min(k, scores.shape[1]), dim=1)
        v = top.values.cpu().numpy()
        i = top.indices.cpu().numpy()
        i[~np.isfinite(v)] = -1
        ids[start:stop, :v.shape[1]] = i
        vals[start:stop, :v.shape[1]] = v
    return ids, vals


def topn(user_vectors: torch.Tensor, item_vectors: torch.Tensor, k: int,
         seen: list[np.ndarray] | None = None, block: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """:func:`blocked_topk` over dot-product scores ``user_vectors @ item_vectors.T``."""
    items_t = item_vectors.T.contiguous()
    return blocked_topk(lambda a, b: user_vectors[a:b] @ items_t, user_vectors.shape[0], k,
                        seen, block)
