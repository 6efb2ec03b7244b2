"""Stage 1: learn item and user representations on the source domain (leave-one-out softmax)."""

from __future__ import annotations

from crossrec.train.base import StageTrainer
from crossrec.train.batches import histories, positives


class PretrainTrainer(StageTrainer):
    stage = "pretrain"

    def __init__(self, model, data, train, model_cfg, run):
        super().__init__(model, data, train, model_cfg, run, model.parameters())
        self.users, self.items = positives(data, data.source, min_items=2)

    def train_epoch(self, epoch: int, epochs: int) -> dict[str, float]:
        self.model.train()
        total, n = 0.0, 0
        for b in self.minibatches(len(self.users), epoch, epochs):
            u, p = self.users[b], self.items[b]
            hist = histories(self.data, u, p, (self.data.source,), self.model_cfg.max_history)
            with self.autocast():
                loss = self.rec_loss(self.model.encode_users(self.to_device(hist)),
                                     self.data.source, p)
            self.step(loss)
            total, n = total + loss.item() * len(b), n + len(b)
        return {"rec_loss": total / max(n, 1), "examples": float(n)}


