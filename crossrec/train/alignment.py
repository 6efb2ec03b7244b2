"""How well a fresh classifier can tell source-based from target-based user vectors.

The discriminator trained during adaptation plays a min-max game with the user tower, so its
running accuracy oscillates and says little about alignment. This probe instead freezes the
tower, fits a new logistic-regression domain classifier on half of the overlapping users and
reports its accuracy on the other half: 0.5 means the two encodings are indistinguishable
(aligned), 1.0 that they are fully separable.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from crossrec.data.domain import DomainData
from crossrec.models.two_tower import TwoTower


@torch.no_grad()
def _encode(model: TwoTower, data: DomainData, users: np.ndarray, domain: str, max_len: int,
            device: str) -> torch.Tensor:
    hist = data.history_tensor(users, (domain,), max_len)
    return model.encode_users(hist.to(device)).float().cpu()


def domain_probe_accuracy(model: TwoTower, data: DomainData, max_len: int, device: str = "cpu",
                          max_users: int = 2000, steps: int = 200, seed: int = 0) -> float:
    """Held-out accuracy of a logistic-regression probe separating each training user's
    source-history vector from their target-history vector (NaN without such users)."""
    src, tgt = data.train_hist[data.source], data.train_hist[data.target]
    both = np.array([u for u in range(len(data.users)) if len(src[u]) and len(tgt[u])],
                    dtype=np.int64)
    if len(both) < 4:
        return float("nan")
    rng = np.random.default_rng(seed)
    users = rng.permutation(both)[:max_users]
    was_training = model.training
    model.eval()
    xs = _encode(model, data, users, data.source, max_len, device)
    xt = _encode(model, data, users, data.target, max_len, device)
    model.train(was_training)
    return probe_accuracy(xs, xt, steps, seed)


def probe_accuracy(xs: torch.Tensor, xt: torch.Tensor, steps: int = 200, seed: int = 0) -> float:
    """Row i of ``xs`` and of ``xt`` belong to the same user: fit an L2-regularised logistic
    regression (LBFGS) on the first half of the users, return its accuracy on the rest."""
    n = len(xs)
    # split by user, so a user's two vectors never sit on both sides of the split
    half = n // 2
    x_fit = torch.cat([xs[:half], xt[:half]])
    y_fit = torch.cat([torch.zeros(half), torch.ones(half)])
    x_eval = torch.cat([xs[half:], xt[half:]])
    y_eval = torch.cat([torch.zeros(n - half), torch.ones(n - half)])
    mean, std = x_fit.mean(0), x_fit.std(0).clamp_min(1e-6)
    x_fit, x_eval = (x_fit - mean) / std, (x_eval - mean) / std
    gen = torch.Generator().manual_seed(seed)
    w = (torch.randn(x_fit.shape[1], generator=gen) * 0.01).requires_grad_(True)
    b = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(x_fit @ w + b, y_fit) + 1e-3 * w.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    with torch.no_grad():
        return float(((x_eval @ w + b > 0).float() == y_eval).float().mean())
