"""Stage 3: fine-tune on the target domain with a freeze strategy.

A share of examples (``cold_dropout``) hides the user's target history so the model keeps
learning to recommend from source history alone.
"""

from __future__ import annotations

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


class FinetuneTrainer(StageTrainer):
    stage = "finetune"

    def __init__(self, model, data, train, model_cfg, run):
        super().__init__(model, data, train, model_cfg, run,
                         trainable_parameters(model, train.freeze))
        self.users, self.items = positives(data, data.target)

    def train_epoch(self, epoch: int, epochs: int) -> dict[str, float]:
        self.model.train()
        total, n = 0.0, 0
        src, tgt = self.data.source, self.data.target
        for b in self.minibatches(len(self.users), epoch, epochs):
            u, p = self.users[b], self.items[b]
            hide = {tgt: self.rng.random(len(b)) < self.cfg.cold_dropout}
            hist = histories(self.data, u, p, (src, tgt), self.model_cfg.max_history, hide)
            with self.autocast():
                loss = self.rec_loss(self.model.encode_users(self.to_device(hist)), tgt, p)
            self.step(loss)
            total, n = total + loss.item() * len(b), n + len(b)
        return {"rec_loss": total / max(n, 1), "examples": float(n)}
