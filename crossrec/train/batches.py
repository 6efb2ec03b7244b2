"""Training examples and their padded histories, built from :class:`DomainData`."""

from __future__ import annotations

import numpy as np
import torch

from crossrec.models.two_tower import PAD
from crossrec.train.data import DomainData


def positives(data: DomainData, domain: str, min_items: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(user index, item index) for every training row of ``domain`` whose user has at least
    ``min_items`` training items there."""
    users, items = [], []
    for u, hist in enumerate(data.train_hist[domain]):
        if len(hist) >= min_items:
            users.append(np.full(len(hist), u))
            items.append(hist)
    if not users:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(users).astype(np.int64), np.concatenate(items).astype(np.int64)


def histories(data: DomainData, users: np.ndarray, held_out: np.ndarray,
              domains: tuple[str, ...], max_len: int,
              hide: dict[str, np.ndarray] | None = None) -> torch.Tensor:
    """Padded training histories over ``domains`` with each example's positive removed.

    ``hide[d][i]`` True drops domain ``d`` from example ``i`` (e.g. the target history, to
    train the cold-start case).
    """
    rows = []
    for i, (u, p) in enumerate(zip(users, held_out, strict=True)):
        parts = []
        for d in domains:
            if hide is not None and d in hide and hide[d][i]:
                continue
            h = data.train_hist[d][u]
            parts.append(h[h != p][-max_len:])
        rows.append(np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64))
    width = max(1, max(len(r) for r in rows))
    out = np.full((len(rows), width), PAD, dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return torch.from_numpy(out)
