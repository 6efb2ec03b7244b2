"""EMCDR (Man et al., IJCAI 2017): per-domain MF plus a source -> target user-factor mapping."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch

from crossrec.data.domain import DomainData
from crossrec.data.sparse import (
    SOURCE,
    TARGET,
    domain_matrix,
    overlap_users,
)
from crossrec.models.als import ALSParams, fit_als
from crossrec.ranking.recommender import FactorisedRecommender

Mapping = Callable[[np.ndarray], np.ndarray]


def fit_linear_map(x: np.ndarray, y: np.ndarray, ridge: float = 1.0) -> Mapping:
    """Closed-form ridge regression ``y ≈ [x, 1] W`` (the intercept is not penalised)."""
    xb = np.hstack([x, np.ones((len(x), 1))]).astype(np.float64)
    penalty = ridge * np.eye(xb.shape[1])
    penalty[-1, -1] = 0.0
    w = np.linalg.solve(xb.T @ xb + penalty, xb.T @ y.astype(np.float64))
    return lambda s: (np.hstack([s, np.ones((len(s), 1))]) @ w).astype(np.float32)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Temporarily cap torch's intra-op threads (restored on exit)."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def fit_mlp_map(x: np.ndarray, y: np.ndarray, hidden: int = 128, epochs: int = 200,
                lr: float = 1e-3, weight_decay: float = 1e-4, batch: int = 256,
                seed: int = 0) -> Mapping:
    """One-hidden-layer tanh MLP fitted with MSE (EMCDR's non-linear mapping), seeded."""
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):  # seeded initialisation, global RNG untouched
        torch.manual_seed(seed)
        net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.Tanh(),
                                  torch.nn.Linear(hidden, y.shape[1]))
    # features are standardised so the same learning rate suits any factor scale
    mu, sd = x.mean(0), x.std(0) + 1e-8
    xs = torch.from_numpy(((x - mu) / sd).astype(np.float32))
    yt = torch.from_numpy(y.astype(np.float32))
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    # a net this small is dominated by thread hand-offs: one thread was ~30x faster than two
    with torch_threads(1):
        for _ in range(epochs):
            for idx in torch.randperm(len(xs), generator=gen).split(batch):
                opt.zero_grad()
                torch.nn.functional.mse_loss(net(xs[idx]), yt[idx]).backward()
                opt.step()
    net.eval()

    def apply(s: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net(torch.from_numpy(((s - mu) / sd).astype(np.float32))).numpy()
    return apply


class EMCDR(FactorisedRecommender):
    """Embedding-and-mapping cross-domain recommender.

    ALS factorises the source and the target training matrices separately; a mapping from
    source to target user factors (``"linear"``: ridge, closed form; ``"mlp"``: small tanh MLP)
    is fitted on the overlapping users. Users without target training rows (the cold users)
    get ``f(source factors)``; the others keep their own target factors. Scores are
    dot products with the target item factors. The linear mapping is the default: it beat the
    MLP on cold_val at 128 and 256 factors; the ALS settings are those of :class:`JointALS`.
    """

    def __init__(self, data: DomainData, mapping: str = "linear", factors: int = 256,
                 regularization: float = 0.05, iterations: int = 15, alpha: float = 100.0,
                 ridge: float = 1.0, hidden: int = 128, epochs: int = 200, threads: int = 0,
                 seed: int = 0):
        if mapping not in ("linear", "mlp"):
            raise ValueError(f"mapping must be 'linear' or 'mlp', not {mapping!r}")
        self.data = data
        source, target = domain_matrix(data, SOURCE), domain_matrix(data, TARGET)
        both = overlap_users(source, target)
        params = ALSParams(factors, regularization, iterations, alpha, threads)
        source_users, _ = fit_als(source, params, seed)
        target_users, target_items = fit_als(target, params, seed + 1)
        if mapping == "linear":
            f = fit_linear_map(source_users[both], target_users[both], ridge)
        else:
            f = fit_mlp_map(source_users[both], target_users[both], hidden, epochs, seed=seed)
        cold = np.flatnonzero(target.getnnz(axis=1) == 0)
        users = target_users.astype(np.float32)
        if len(cold):
            users[cold] = f(source_users[cold])
        self._users = torch.from_numpy(users)
        self._items = torch.from_numpy(target_items.astype(np.float32))

    def user_matrix(self, users: np.ndarray) -> torch.Tensor:
        return self._users[torch.from_numpy(np.asarray(users, dtype=np.int64))]

    def item_matrix(self) -> torch.Tensor:
        return self._items
