"""Starting the two-tower model from a factorisation of both domains' rows.

A randomly initialised tower has to learn every item's vector from a few epochs of softmax
steps, and on catalogues of ~100k mostly rare items it stays far below a plain factorisation
(joint ALS). So the tower can start *as* one: implicit ALS over users x (source ∪ target items)
of the training rows gives item factors ``Y``. A user's ALS vector for known item factors is
a linear function of their history, ``(YᵀY + λI)⁻¹ Yᵀ x`` without the per-user confidence
term; the tower's mean pooling gives ``Yᵀ x / |x|`` when the history table holds ``Y``, so the
history table holds ``Y (YᵀY + λI)⁻¹`` instead and the candidate table ``Y``. With the
pooling's attention query at zero (a mean), the residual head and attribute embeddings at zero,
the untrained tower then ranks like that ALS fold-in (up to each user's scale), and training
starts from there, at a softmax temperature calibrated to the training rows
(:func:`calibrate_temperature`) so that the first steps refine the start instead of undoing it.
"""

from __future__ import annotations

import numpy as np
import torch

from crossrec.data.domain import DomainData
from crossrec.data.sparse import SOURCE, TARGET, domain_matrix
from crossrec.models.als import ALSParams, fit_als
from crossrec.models.two_tower import TwoTower

INIT_STD = 0.05
"""Root mean square of both tables before the temperature is calibrated: the random
initialisation's."""
CALIBRATION_EXAMPLES = 2048
"""(user, target item) training pairs the temperature is calibrated on."""
CALIBRATION_CANDIDATES = 4096
"""Catalogue items each calibration pair's positive is scored against (at most)."""


def factor_tables(data: DomainData, dim: int, whitening: float, seed: int,
                  threads: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(history table, candidate table), each (n_items + 1, dim) in vocabulary order with
    row 0 (padding) zero, from ALS over ``data``'s training rows of both domains."""
    import scipy.sparse as sp

    union = sp.hstack([domain_matrix(data, SOURCE), domain_matrix(data, TARGET)]).tocsr()
    _, items = fit_als(union, ALSParams(factors=dim, threads=threads), seed)
    y = items.astype(np.float64)
    # the vocabulary holds the source range, then the target range, from index 1: ALS columns
    history = y @ np.linalg.inv(y.T @ y + whitening * np.eye(dim))
    out = []
    for table in (history, y):
        rms = float(np.sqrt(np.mean(table**2))) or 1.0
        padded = np.zeros((len(table) + 1, dim), dtype=np.float32)
        padded[1:] = table * (INIT_STD / rms)  # each side's scale only sets the temperature
        out.append(padded)
    return out[0], out[1]


def initialise_from_factors(model: TwoTower, history: np.ndarray,
                            candidates: np.ndarray) -> TwoTower:
    """Load the tables into ``model`` and zero what would blur them at the start (the
    residual head's output, attribute embeddings, item biases; attention starts as a mean)."""
    expected = (model.config.n_items + 1, model.config.dim)
    if history.shape != expected or candidates.shape != expected:
        raise ValueError(f"factor tables of shape {history.shape}/{candidates.shape}, the model "
                         f"needs {expected}")
    with torch.no_grad():
        model.user_tower.item_embedding.weight.copy_(torch.from_numpy(history))
        model.item_tower.embedding.weight.copy_(torch.from_numpy(candidates))
        model.item_tower.bias.weight.zero_()
        model.user_tower.attn_query.zero_()
        last = model.user_tower.head[-1]
        last.weight.zero_()
        last.bias.zero_()
        if model.attributes is not None:
            for emb in model.attributes.fields:
                emb.weight.zero_()
    return model


def calibrate_temperature(model: TwoTower, data: DomainData, max_history: int,
                          seed: int) -> float:
    """Scale both tables so the untrained tower's softmax fits the training rows, and return
    the logit scale applied.

    The fold-in fixes the ranking but not the scale of the scores, and at the random init's
    scale the softmax over a large catalogue is nearly uniform: the first training steps
    then move every vector to sharpen it and undo the start. The scale ``s`` minimising the
    cross-entropy of ``s * logits`` over training pairs (a user's source history -> one of
    their target items, the cold-start case) is the root of a monotone derivative
    (``E_softmax[logit] - logit(positive)``: the loss is convex in ``s``), found by
    bisection in log space, with each positive scored against a uniform sample of the
    catalogue as the sampled softmax trains. Each table is multiplied by ``sqrt(s)``, so the
    ranking is unchanged.
    """
    src, tgt = data.source, data.target
    users = [u for u in range(len(data.users))
             if len(data.train_hist[src][u]) and len(data.train_hist[tgt][u])]
    if not users:
        return 1.0
    rng = np.random.default_rng(seed)
    users = np.asarray(users, dtype=np.int64)
    if len(users) > CALIBRATION_EXAMPLES:
        users = np.sort(rng.choice(users, size=CALIBRATION_EXAMPLES, replace=False))
    positives = np.array([rng.choice(data.train_hist[tgt][u]) for u in users], dtype=np.int64)
    start, stop = model.domain_range(tgt)
    # the positive against a uniform sample of the catalogue (the whole one when small), as
    # the sampled softmax trains: memory stays bounded whatever the catalogue's size
    candidates = np.arange(start, stop, dtype=np.int64)
    if len(candidates) > CALIBRATION_CANDIDATES:
        candidates = np.sort(rng.choice(candidates, size=CALIBRATION_CANDIDATES, replace=False))
    training = model.training
    with torch.no_grad():
        model.eval()
        vectors = model.encode_users(data.history_tensor(users, (src,), max_history))
        model.train(training)  # the caller's mode, as it was
        pos = torch.from_numpy(positives)
        logits = torch.cat([model.item_logits(vectors, pos[:, None]),
                            model.item_logits(vectors, torch.from_numpy(candidates))],
                           dim=1).double()
        # a sampled item equal to the positive is no negative; -1e30 keeps p * logit finite
        logits[:, 1:].masked_fill_(torch.from_numpy(candidates)[None, :] == pos[:, None], -1e30)

        def slope(log_scale: float) -> float:
            """d loss / d scale at ``exp(log_scale)``: mean of E_p[logit] - logit(positive)."""
            p = torch.softmax(logits * np.exp(log_scale), dim=1)
            return float(((p * logits).sum(dim=1) - logits[:, 0]).mean())

        lo, hi = -4.0, 12.0
        if slope(hi) < 0:  # positives still gain at the largest scale: take it
            lo = hi
        for _ in range(30):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if slope(mid) < 0 else (lo, mid)
        scale = float(np.exp(lo))
        model.user_tower.item_embedding.weight.mul_(scale ** 0.5)
        model.item_tower.embedding.weight.mul_(scale ** 0.5)
    return scale
