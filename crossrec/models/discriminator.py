"""Domain discriminator: predicts from a user vector whether it was computed from the user's
source history (label 0) or target history (label 1)."""

from __future__ import annotations

import torch
from torch import nn


class DomainDiscriminator(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        # LayerNorm: the tower cannot escape the adversary by rescaling its vectors, and
        # leaky units cannot all die, which would freeze the domain loss at log 2 (a fake "0.5")
        self.net = nn.Sequential(
            nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1),
        )

    def forward(self, user_vectors: torch.Tensor) -> torch.Tensor:
        """Logit of "target domain" per row."""
        return self.net(user_vectors).squeeze(-1)
