"""The recommendation loss: full softmax for small catalogues, sampled above the threshold."""

import numpy as np
import torch
import torch.nn.functional as F

from crossrec.config import ModelConfig, RunOptions, TrainConfig
from crossrec.models.two_tower import TwoTower, TwoTowerConfig
from crossrec.train.base import StageTrainer


def trainer(negatives: int) -> StageTrainer:
    torch.manual_seed(0)
    model = TwoTower(TwoTowerConfig(n_items=30, domains=["a", "b"],
                                    domain_ranges=[(1, 11), (11, 31)], dim=8))
    return StageTrainer(model, None, TrainConfig(negatives=negatives), ModelConfig(dim=8),
                        RunOptions(device="cpu", seed=3), model.parameters())


def test_small_catalogue_uses_the_full_softmax():
    t = trainer(negatives=20)  # domain b has exactly 20 items
    users = torch.randn(4, 8)
    items = np.array([11, 15, 30, 12])
    want = F.cross_entropy(t.model.logits(users, "b"), torch.tensor(items - 11))
    assert torch.allclose(t.rec_loss(users, "b", items), want)


def test_sampled_softmax_is_positive_against_shared_negatives_with_hits_masked():
    t = trainer(negatives=5)
    users = torch.randn(4, 8)
    items = np.array([11, 15, 30, 12])
    loss = t.rec_loss(users, "b", items)
    neg = np.random.default_rng(3).integers(11, 31, size=5)  # what the trainer's rng drew
    all_logits = t.model.logits(users, "b")  # columns = items 11..30
    manual = []
    for i, p in enumerate(items):
        row = [all_logits[i, p - 11]] + [all_logits[i, n - 11] if n != p else
                                        torch.tensor(float("-inf")) for n in neg]
        manual.append(-torch.log_softmax(torch.stack(row), dim=0)[0])
    assert torch.allclose(loss, torch.stack(manual).mean(), atol=1e-6)
