"""Stage 3: fine-tune on the target domain with a freeze strategy.

A share of examples (``cold_dropout``) hides the user's target history so the model keeps
learning to recommend from source history alone. Where click feedback exists, a pairwise term
ranks each positive above items the user was shown and did not take (weak negatives).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from crossrec.train.base import StageTrainer
from crossrec.train.batches import histories, positives


def trainable_parameters(model, strategy: str) -> list:
    """Freeze per strategy and return what the optimiser may update."""
    for p in model.parameters():
        p.requires_grad_(True)
    # the attribute encoder feeds the user tower's inputs, so it freezes with them
    shared = list(model.attributes.parameters()) if model.attributes is not None else []
    if strategy == "frozen_user_tower":
        frozen = list(model.user_tower.parameters()) + shared
    elif strategy == "partial":
        frozen = list(model.user_tower.item_embedding.parameters()) + shared
    elif strategy == "full":
        frozen = []
    else:
        raise ValueError(f"unknown freeze strategy {strategy!r}")
    for p in frozen:
        p.requires_grad_(False)
    return [p for p in model.parameters() if p.requires_grad]


WEAK_PER_EXAMPLE = 4


def sample_weak(weak: list[np.ndarray], users: np.ndarray, m: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(len(users), m) weak negatives per example (sampled without replacement when a user has
    more than ``m``) and the mask of real ones; padding is item 0 (PAD), masked out."""
    out = np.zeros((len(users), m), dtype=np.int64)
    mask = np.zeros((len(users), m), dtype=bool)
    for row, u in enumerate(users):
        w = weak[u]
        if len(w) > m:
            w = rng.choice(w, size=m, replace=False)
        out[row, :len(w)] = w
        mask[row, :len(w)] = True
    return out, mask


class FinetuneTrainer(StageTrainer):
    stage = "finetune"

    def __init__(self, model, data, train, model_cfg, run):
        super().__init__(model, data, train, model_cfg, run,
                         trainable_parameters(model, train.freeze))
        self.users, self.items = positives(data, data.target)
        self.weak = data.weak_negatives
        if self.weak is not None and not any(len(w) for w in self.weak):
            self.weak = None

    def weak_loss(self, user_vectors: torch.Tensor, users: np.ndarray,
                  items: np.ndarray) -> torch.Tensor:
        """Mean softplus(s(weak) - s(positive)) over up to ``WEAK_PER_EXAMPLE`` sampled weak
        negatives per example (BPR); 0 when no example's user has any."""
        neg, mask = sample_weak(self.weak, users, WEAK_PER_EXAMPLE, self.rng)
        if not mask.any():
            return user_vectors.sum() * 0.0
        neg_t = torch.from_numpy(neg).to(self.device)
        pos = self.model.item_logits(user_vectors, torch.from_numpy(items[:, None]).to(self.device))
        gap = self.model.item_logits(user_vectors, neg_t).float() - pos.float()
        m = torch.from_numpy(mask).to(self.device)
        return F.softplus(gap)[m].mean()

    def train_epoch(self, epoch: int, epochs: int) -> dict[str, float]:
        self.model.train()
        total, n = 0.0, 0
        src, tgt = self.data.source, self.data.target
        for b in self.minibatches(len(self.users), epoch, epochs):
            u, p = self.users[b], self.items[b]
            hide = {tgt: self.rng.random(len(b)) < self.cfg.cold_dropout}
            hist = histories(self.data, u, p, (src, tgt), self.model_cfg.max_history, hide)
            with self.autocast():
                users = self.model.encode_users(self.to_device(hist))
                loss = self.rec_loss(users, tgt, p)
                if self.weak is not None and self.cfg.weak_negative_weight > 0:
                    loss = loss + self.cfg.weak_negative_weight * self.weak_loss(users, u, p)
            self.step(loss)
            total, n = total + loss.item() * len(b), n + len(b)
        return {"rec_loss": total / max(n, 1), "examples": float(n)}
