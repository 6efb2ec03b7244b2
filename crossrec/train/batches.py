"""Training examples and their padded histories, built from :class:`DomainData`."""

from __future__ import annotations

import numpy as np
import torch

from crossrec.data.domain import DomainData, trim_padding
from crossrec.data.vocab import PAD


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
    train the cold-start case). Vectorised: the last ``max_len + 1`` items of each user come
    from a precomputed matrix; the positive becomes padding, and where it was not among them
    the oldest of the ``max_len + 1`` is dropped, so each domain keeps at most ``max_len``.
    """
    parts = []
    for d in domains:
        rows = data.recent(d, max_len + 1)[users]
        hit = rows == held_out[:, None]
        rows[hit] = PAD
        rows[~hit.any(axis=1), 0] = PAD
        if hide is not None and d in hide:
            rows[hide[d]] = PAD
        parts.append(rows)
    return torch.from_numpy(trim_padding(np.concatenate(parts, axis=1)))
