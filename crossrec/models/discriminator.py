"""Domain discriminator: predicts from a user vector whether it was computed from the user's
source history (label 0) or target history (label 1)."""

from __future__ import annotations

import torch
from torch import nn


class DomainDiscriminator(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, 1),
        )

    def forward(self, user_vectors: torch.Tensor) -> torch.Tensor:
        """Logit of "target domain" per row."""
        return self.net(user_vectors).squeeze(-1)
