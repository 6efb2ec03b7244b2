"""Stage 2: DANN adaptation.

The shared user tower encodes each overlapping user twice, from their source history and from
their target history. Both encodings must predict the user's target items (recommendation
loss), while a domain discriminator behind a gradient-reversal layer tries to tell them apart;
the reversed gradient pushes the tower to make source-based vectors look like target-based ones,
which is exactly what a cold-start user (source history only) needs at scoring time.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from crossrec.models.discriminator import DomainDiscriminator
from crossrec.models.grl import grad_reverse
from crossrec.train.alignment import domain_probe_accuracy
from crossrec.train.base import StageTrainer
from crossrec.train.batches import histories, positives
from crossrec.train.schedules import grl_lambda


class AdaptTrainer(StageTrainer):
    stage = "adapt"

    def __init__(self, model, data, train, model_cfg, run):
        self.discriminator = DomainDiscriminator(model_cfg.dim, model_cfg.discriminator_hidden)
        # the discriminator learns faster than the tower it judges: an informative adversary
        # needs to be near its best response, or the reversed gradient is mostly noise
        groups = [{"params": list(model.parameters())},
                  {"params": list(self.discriminator.parameters()),
                   "lr": train.lr * train.discriminator_lr_scale}]
        super().__init__(model, data, train, model_cfg, run, groups)
        self.discriminator.to(self.device)
        users, items = positives(data, data.target)
        has_source = np.array([len(data.train_hist[data.source][u]) > 0 for u in users], bool)
        self.users, self.items = users[has_source], items[has_source]

    def train_epoch(self, epoch: int, epochs: int) -> dict[str, float]:
        self.model.train()
        self.discriminator.train()
        sums = {"rec_loss": 0.0, "domain_loss": 0.0, "disc_acc": 0.0}
        n = 0
        n_batches = max(1, -(-len(self.users) // self.cfg.batch_size))
        lambd = 0.0
        for step, b in enumerate(self.minibatches(len(self.users), epoch, epochs)):
            lambd = grl_lambda((epoch + step / n_batches) / max(epochs, 1))
            u, p = self.users[b], self.items[b]
            src, tgt = self.data.source, self.data.target
            hs = self.to_device(histories(self.data, u, p, (src,), self.model_cfg.max_history))
            ht = self.to_device(histories(self.data, u, p, (tgt,), self.model_cfg.max_history))
            has_t = (ht != 0).any(dim=1)  # users whose only target item is the positive
            with self.autocast():
                us, ut = self.model.encode_users(hs), self.model.encode_users(ht[has_t])
                rec = self.rec_loss(us, tgt, p)
                if has_t.any():
                    rec = rec + self.rec_loss(ut, tgt, p[has_t.cpu().numpy()])
                # the same users on both sides: the discriminator can only use the domain
                both = torch.cat([us[has_t], ut])
                labels = torch.cat([torch.zeros(len(ut)), torch.ones(len(ut))]).to(self.device)
                # the discriminator always learns at full strength (so its accuracy means the
                # same at any weight); the weight only scales what reaches the tower, reversed
                reverse = lambd * self.cfg.adversarial_weight
                logits = self.discriminator(grad_reverse(both, reverse)).float()
                dom = F.binary_cross_entropy_with_logits(logits, labels)
                loss = rec + dom
            self.step(loss)
            k = len(b)
            sums["rec_loss"] += rec.item() * k
            sums["domain_loss"] += dom.item() * k
            sums["disc_acc"] += float(((logits > 0).float() == labels).float().mean()) * k
            n += k
        probe = domain_probe_accuracy(self.model, self.data, self.model_cfg.max_history,
                                      self.device, seed=self.run.seed)
        return {**{key: v / max(n, 1) for key, v in sums.items()}, "lambda": lambd,
                "probe_acc": probe}
