"""A trained :class:`~crossrec.models.two_tower.TwoTower` behind the batch recommender interface."""

from __future__ import annotations

import numpy as np
import torch

from crossrec.data.domain import DomainData
from crossrec.ranking.explain import explain
from crossrec.ranking.recommender import FactorisedRecommender


class ModelRecommender(FactorisedRecommender):
    """Scores with a trained :class:`TwoTower`; the bias rides as an extra column."""

    def __init__(self, model, data: DomainData, max_history: int, which: str = "train",
                 device: str = "cpu", batch: int = 4096):
        self.model, self.data, self.max_history = model, data, max_history
        self.which, self.device, self.batch = which, device, batch

    @torch.no_grad()
    def user_matrix(self, users: np.ndarray) -> torch.Tensor:
        self.model.eval()
        out = []
        for start in range(0, len(users), self.batch):
            hist = self.data.history_tensor(users[start:start + self.batch],
                                            (self.data.source, self.data.target),
                                            self.max_history, self.which)
            out.append(self.model.encode_users(hist.to(self.device)).float().cpu())
        u = torch.cat(out) if out else torch.zeros((0, self.model.config.dim))
        return torch.cat([u, torch.ones((len(u), 1))], dim=1)

    @torch.no_grad()
    def item_matrix(self) -> torch.Tensor:
        vecs, bias = self.model.catalogue(self.data.target)
        return torch.cat([vecs, bias.unsqueeze(1)], dim=1).float().cpu()

    @torch.no_grad()
    def explain(self, users: np.ndarray, cols: np.ndarray, n: int) -> np.ndarray:
        """The source items whose embedding has the largest dot product with the recommended
        item's vector in the shared space."""
        data = self.data
        s0 = data.vocab.domain_ranges[0][0]
        hist = [data.all_hist[data.source][u] - s0 for u in users]
        src = self.model.catalogue(data.source)[0].detach().float().cpu().numpy()
        tgt = self.model.catalogue(data.target)[0].detach().float().cpu().numpy()
        local = explain(hist, cols, n, source_vectors=src, target_vectors=tgt)
        return np.where(local >= 0, local + s0, -1)
