"""A model version trained on another day's catalogue, scoring today's data.

The champion of the quality gate was trained on an earlier run's marts, so its item indices
follow that run's vocabulary. :func:`to_vocab` re-indexes today's histories and held-out items
into the model's vocabulary (items it never saw drop out of histories: it has no embedding for
them), and :class:`RemappedRecommender` maps its scores back onto today's target catalogue,
where items the model never saw score ``-inf`` and are never recommended. Evaluation still uses
today's held-out items, so a new item the old model cannot reach counts against it.
"""

from __future__ import annotations

import numpy as np
import torch

from crossrec.data.domain import DomainData
from crossrec.data.vocab import Vocabulary
from crossrec.ranking.recommender import Recommender


def index_map(new: Vocabulary, old: Vocabulary) -> np.ndarray:
    """For each index of ``new``, the same item's index in ``old`` (-1: unknown there)."""
    out = np.fromiter((old.index.get(i, -1) for i in new.item_ids), dtype=np.int64,
                      count=len(new.item_ids))
    out[0] = 0  # padding stays padding
    return out


def to_vocab(data: DomainData, vocab: Vocabulary) -> DomainData:
    """``data`` (same users, splits and order) with item indices of ``vocab``."""
    old_of_new = index_map(data.vocab, vocab)

    def move(items: np.ndarray) -> np.ndarray:
        mapped = old_of_new[items]
        return mapped[mapped > 0]

    def per_domain(hist: dict[str, list[np.ndarray]]) -> dict[str, list[np.ndarray]]:
        return {d: [move(h) for h in users] for d, users in hist.items()}

    truth = {role: {u: move(items) for u, items in by_user.items()}
             for role, by_user in data.truth.items()}
    weak = None if data.weak_negatives is None else [move(w) for w in data.weak_negatives]
    return DomainData(vocab, data.source, data.target, data.users, per_domain(data.train_hist),
                      per_domain(data.all_hist), truth, data.truth_sizes, data.user_role, weak)


class RemappedRecommender(Recommender):
    """``inner`` (built on ``to_vocab(data, model_vocab)``) ranking ``data``'s catalogue."""

    def __init__(self, inner: Recommender, data: DomainData):
        self.inner, self.data = inner, data
        self.which = getattr(inner, "which", "train")
        self.score_copies = inner.score_copies + 1
        if data.vocab.domains != inner.data.vocab.domains:
            raise ValueError(f"the model ranks domains {inner.data.vocab.domains}, the data "
                             f"{data.vocab.domains}")
        t0, t1 = data.vocab.domain_ranges[1]
        o0 = inner.data.vocab.domain_ranges[1][0]
        mapped = index_map(data.vocab, inner.data.vocab)
        old = mapped[t0:t1]
        self.column_map = np.where(old > 0, old - o0, -1)
        """Today's target column -> the model's (-1: an item the model never saw)."""
        self.known = torch.from_numpy(np.flatnonzero(old > 0))
        self.old_columns = torch.from_numpy(self.column_map[old > 0])
        self.new_of_old = np.full(len(inner.data.vocab.item_ids), -1, dtype=np.int64)
        """The model's global item index -> today's (-1: not in today's catalogue)."""
        self.new_of_old[mapped[mapped > 0]] = np.flatnonzero(mapped > 0)

    @property
    def memory_mb(self) -> float:  # one budget, shared with the inner recommender
        return self.inner.memory_mb

    @memory_mb.setter
    def memory_mb(self, value: float) -> None:
        self.inner.memory_mb = value

    def score(self, users: np.ndarray) -> torch.Tensor:
        inner = self.inner.score(users).float()
        t0, t1 = self.data.vocab.domain_ranges[1]
        out = torch.full((len(users), t1 - t0), float("-inf"))
        out[:, self.known] = inner[:, self.old_columns]
        return out

    def explain(self, users: np.ndarray, cols: np.ndarray, n: int) -> np.ndarray:
        """Explained in the model's indices, mapped back onto today's."""
        inner_cols = np.where(cols >= 0, self.column_map[np.maximum(cols, 0)], -1)
        old = self.inner.explain(users, inner_cols, n)
        return np.where(old >= 0, self.new_of_old[np.maximum(old, 0)], -1)
