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
starts from there.
"""

from __future__ import annotations

import numpy as np
import torch

from crossrec.data.domain import DomainData
from crossrec.data.sparse import SOURCE, TARGET, domain_matrix
from crossrec.models.als import ALSParams, fit_als
from crossrec.models.two_tower import TwoTower

INIT_STD = 0.05
"""Root mean square of both tables after scaling: the random initialisation's."""


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
