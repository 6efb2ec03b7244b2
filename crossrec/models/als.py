"""Implicit-feedback ALS (package ``implicit``): the MF engine of the CMF and EMCDR baselines
and of the two-tower model's factor initialisation (``[model] init = "als"``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits


@dataclass(frozen=True)
class ALSParams:
    factors: int = 256
    regularization: float = 0.05
    iterations: int = 15
    alpha: float = 100.0
    """Confidence of an observed interaction (the binary matrix is scaled by it); unobserved
    cells weigh 1, so alpha 1 would not favour the observed ones at all."""
    threads: int = 0
    """ALS worker threads; 0 uses every core."""


def fit_als(user_items: sp.csr_matrix, params: ALSParams,
            seed: int) -> tuple[np.ndarray, np.ndarray]:
    """User and item factors of a user x item CSR matrix (rows without items get zeros)."""
    # implicit parallelises itself; a threaded BLAS underneath oversubscribes the cores
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=params.factors, regularization=params.regularization,
            alpha=params.alpha, iterations=params.iterations,
            num_threads=params.threads, random_state=seed)
        model.fit(user_items.astype(np.float32).tocsr(), show_progress=False)
    return np.asarray(model.user_factors), np.asarray(model.item_factors)
