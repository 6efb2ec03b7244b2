"""Batch-first recommender interface and its model-backed implementation.

Every method behind ``score`` / ``recommend`` (our model and each baseline) ranks the target
catalogue of a :class:`DomainData`; ``recommend(users, k)`` returns 2-D arrays, and batch and
single-user calls agree. A score-based recommender overrides only ``score``; a factorised one
(:class:`FactorisedRecommender`) provides user and item matrices and gets the dot-product
fast path of :func:`topn`.
"""

from __future__ import annotations

import numpy as np
import torch

from crossrec.data.domain import DomainData
from crossrec.ranking.topn import DEFAULT_MEMORY_MB, block_rows, blocked_topk, topn


class Recommender:
    """Base: subclasses override ``score`` (and ``explain`` where they can say why);
    ``recommend`` ranks the scores in user blocks."""

    data: DomainData
    memory_mb: float = DEFAULT_MEMORY_MB
    """Working-memory budget of ``recommend`` (score blocks, tiles), whatever the user count."""
    block: int | None = None
    """Users per score block; None derives it from ``memory_mb``."""
    score_copies: int = 2
    """Dense (users x catalogue) float32 matrices ``score`` holds at once, to size blocks."""

    def users_per_block(self) -> int:
        if self.block is not None:
            return self.block
        start, stop = self.data.vocab.domain_ranges[1]
        n_items = stop - start
        return block_rows(self.memory_mb, 4 * n_items * self.score_copies)

    def score(self, users: np.ndarray) -> torch.Tensor:
        """(len(users), n_target_items) scores; columns follow the target catalogue.

        Returns a fresh tensor: callers mask seen items in place.
        """
        raise NotImplementedError

    def seen_target(self, users: np.ndarray, which: str = "train") -> list[np.ndarray]:
        """Each user's target items as catalogue columns (to exclude from rankings)."""
        hist = self.data.train_hist if which == "train" else self.data.all_hist
        start = self.data.vocab.domain_ranges[1][0]
        return [hist[self.data.target][u] - start for u in users]

    def explain(self, users: np.ndarray, cols: np.ndarray, n: int) -> np.ndarray:
        """(users x k x n) global indices of the source items (of each user's whole known
        history) that contributed most to each recommended column (-1: none, or padding)."""
        raise NotImplementedError(f"{type(self).__name__} cannot explain its scores")

    def recommend(self, users: np.ndarray, k: int, exclude: bool = True,
                  which: str = "train") -> tuple[np.ndarray, np.ndarray]:
        """Top-k catalogue columns and scores per user, excluding seen target items."""
        seen = self.seen_target(users, which) if exclude else None
        return blocked_topk(lambda a, b: self.score(users[a:b]), len(users), k, seen,
                            self.users_per_block())


class FactorisedRecommender(Recommender):
    """Dot-product scoring: subclasses provide ``user_matrix`` and ``item_matrix``."""

    def user_matrix(self, users: np.ndarray) -> torch.Tensor:
        raise NotImplementedError

    def item_matrix(self) -> torch.Tensor:
        raise NotImplementedError

    def score(self, users: np.ndarray) -> torch.Tensor:
        return self.user_matrix(users) @ self.item_matrix().T

    def recommend(self, users: np.ndarray, k: int, exclude: bool = True,
                  which: str = "train") -> tuple[np.ndarray, np.ndarray]:
        seen = self.seen_target(users, which) if exclude else None
        return topn(self.user_matrix(users), self.item_matrix(), k, seen, self.memory_mb)
