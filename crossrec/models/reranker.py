"""The cold-user reranker: a small network that orders a user's candidate target items from
the evidence of :class:`~crossrec.models.cold_signals.ColdSignals`.

The candidates are the items the ranked signals agree on best (smallest sum of per-user
ranks). Each candidate's features are its signal values (log-scaled) and its rank under each
ranked signal; the network scores candidates one by one, and is trained listwise (softmax over
a user's candidates) in :mod:`crossrec.train.rerank`.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from crossrec.models.cold_signals import RANKED, SIGNALS, SignalsConfig

FEATURES = SIGNALS + tuple(f"{name}_rank" for name in RANKED)
_AS_IS = {"log_popularity"}  # already on a log scale


class RerankerConfig(BaseModel):
    """Everything needed to rebuild the network and the statistics it reads; saved in the
    bundle's config."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    features: list[str] = Field(default_factory=lambda: list(FEATURES))
    """Input features, in column order."""
    candidates: int = Field(100, ge=1)
    """Target items reranked per user; the rest keep the base model's order below them."""
    hidden: int = Field(64, ge=1)
    """Width of the two hidden layers."""
    signals: SignalsConfig = SignalsConfig()
    """How the statistics its features come from are built (see ColdSignals)."""
    base_weight: float = Field(0.0, ge=0)
    """Weight of the base model's score (two-tower fused with the graph) in the candidates'
    order: per user, ``z(network) + base_weight * z(base)`` over the candidates, chosen on
    the cold validation users; 0 orders them by the network alone. The network learns from
    pseudo-cold users whose rows the two-tower model trained on, so the base score cannot be
    one of its features without leaking; a weight chosen on held-out users can."""


def row_ranks(values: np.ndarray) -> np.ndarray:
    """Per-row rank of each column (0 = largest; ties by column)."""
    order = np.argsort(-values, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(values.shape[1])[None, :], axis=1)
    return ranks


def candidate_table(evidence: dict[str, np.ndarray],
                    k: int) -> tuple[np.ndarray, np.ndarray]:
    """(users, k) candidate columns and their (users, k, len(FEATURES)) features."""
    ranks = {name: row_ranks(evidence[name]) for name in RANKED}
    n_items = evidence[RANKED[0]].shape[1]
    k = min(k, n_items)
    # popularity only breaks ties of the summed ranks (cold users with little evidence)
    key = sum(ranks.values()) + row_ranks(evidence["log_popularity"]) / (n_items + 1.0)
    cand = np.argsort(key, axis=1, kind="stable")[:, :k]
    columns = []
    for name in SIGNALS:
        v = np.take_along_axis(evidence[name], cand, axis=1)
        columns.append(v if name in _AS_IS else np.log1p(10.0 * np.maximum(v, 0.0)))
    for name in RANKED:
        columns.append(np.log1p(np.take_along_axis(ranks[name], cand, axis=1)))
    return cand, np.stack(columns, axis=-1).astype(np.float32)


class Reranker(nn.Module):
    """Candidate features -> score; inputs are standardised with the training table's
    statistics, which are buffers saved with the weights."""

    def __init__(self, config: RerankerConfig):
        super().__init__()
        self.config = config
        n = len(config.features)
        self.register_buffer("mean", torch.zeros(n))
        self.register_buffer("std", torch.ones(n))
        self.net = nn.Sequential(nn.Linear(n, config.hidden), nn.ReLU(),
                                 nn.Linear(config.hidden, config.hidden), nn.ReLU(),
                                 nn.Linear(config.hidden, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net((features - self.mean) / self.std).squeeze(-1)
