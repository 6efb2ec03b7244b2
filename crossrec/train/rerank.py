"""Train the cold-user reranker on pseudo-cold users: users with rows in both domains whose
target rows are hidden from the statistics their features come from.

The users with rows in both domains are split into ``folds``; for each fold the signals are
fitted on the other folds, and the fold's users (source rows only, like a cold user) get a
candidate table labelled with their hidden target rows. Cold validation and test users have no
target training rows, so they are never among them. The network is then trained listwise: a
softmax over each user's candidates against their share of the user's relevant candidates.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp
import torch

from crossrec.models.cold_signals import ColdSignals
from crossrec.models.reranker import Reranker, RerankerConfig, candidate_table
from crossrec.progress import progress_bar

log = logging.getLogger(__name__)


class TooFewPseudoColdUsers(ValueError):
    """The data has too few users with rows in both domains to train a reranker on."""

BLOCK = 256
"""Users per evidence block: each block holds ~12 dense (users x target items) arrays."""


def pseudo_cold_table(source: sp.csr_matrix, target: sp.csr_matrix, config: RerankerConfig,
                      folds: int, seed: int,
                      progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Features (groups, candidates, features) and labels (groups, candidates) of every
    pseudo-cold user with at least one hidden target item among its candidates; ``progress``
    shows a bar over the folds (each refits the signals)."""
    both = np.flatnonzero((source.getnnz(axis=1) > 0) & (target.getnnz(axis=1) > 0))
    if len(both) < 2 * folds:
        raise TooFewPseudoColdUsers(f"the reranker needs at least {2 * folds} users with rows "
                                    f"in both domains to train on; found {len(both)}")
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    with progress_bar("reranker folds", folds, progress) as advance:
        for i, held in enumerate(np.array_split(rng.permutation(both), folds)):
            x, y = _table_fold(source, target, np.setdiff1d(both, held), held, config)
            xs.append(x)
            ys.append(y)
            log.info("reranker: fold %d/%d tabled", i + 1, folds)
            advance()
    return np.concatenate(xs), np.concatenate(ys)


def _table_fold(source: sp.csr_matrix, target: sp.csr_matrix, fit: np.ndarray,
                held: np.ndarray, config: RerankerConfig) -> tuple[np.ndarray, np.ndarray]:
    """The table of the users ``held``, from signals fitted on the users ``fit`` only."""
    signals = ColdSignals.build(source, target, fit, config.signals)
    xs, ys = [], []
    for b in range(0, len(held), BLOCK):
        users = np.sort(held[b:b + BLOCK])
        cand, x = candidate_table(signals.evidence(source[users]), config.candidates)
        truth = target[users].toarray() > 0
        y = np.take_along_axis(truth, cand, axis=1).astype(np.float32)
        keep = y.sum(axis=1) > 0  # no relevant candidate: nothing to learn the order from
        xs.append(x[keep])
        ys.append(y[keep])
    return np.concatenate(xs), np.concatenate(ys)


def fit_reranker(x: np.ndarray, y: np.ndarray, config: RerankerConfig, epochs: int,
                 seed: int, lr: float = 1e-3, batch: int = 128,
                 progress: bool = False) -> Reranker:
    """Listwise training on a table from :func:`pseudo_cold_table` (``progress``: a bar over
    the epochs)."""
    if not len(x):
        raise TooFewPseudoColdUsers("no pseudo-cold user has a relevant item among its "
                                    "candidates")
    torch.manual_seed(seed)
    model = Reranker(config)
    flat = torch.from_numpy(x.reshape(-1, x.shape[-1]))
    model.mean.copy_(flat.mean(0))
    model.std.copy_(flat.std(0).clamp_min(1e-6))
    features, labels = torch.from_numpy(x), torch.from_numpy(y)
    target = labels / labels.sum(dim=1, keepdim=True)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-5)
    order = torch.Generator().manual_seed(seed)
    with progress_bar("reranker epochs", epochs, progress) as advance:
        for epoch in range(epochs):
            total = 0.0
            for idx in torch.randperm(len(features), generator=order).split(batch):
                logits = model(features[idx])
                loss = -(target[idx] * torch.log_softmax(logits, dim=1)).sum(1).mean()
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += loss.item() * len(idx)
            log.debug("reranker epoch %d/%d: loss %.4f", epoch + 1, epochs,
                      total / len(features))
            advance()
    return model.eval()
