"""What the training rows say about a cold-start user's target items, signal by signal.

A cold user has source items only. Several statistics of the other users' rows each rank the
target catalogue for them, and each is right about different items (a near-duplicate product
listed in both domains shows in the maximum cosine, a niche taste in the neighbouring users,
a weakly linked user only in popularity). The reranker (:mod:`crossrec.models.reranker`)
learns how to weigh them from users whose target rows it hid.

Every statistic is fitted on the rows of one set of *fit* users. Training fits them without
the pseudo-cold users it learns from, so their hidden target rows never leak into their own
evidence; scoring fits them on every user with rows in both domains.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from crossrec.data.sparse import cosine_columns, keep_top_per_row, l2_rows, largest_per_column
from crossrec.models.item_graph import walk_weights

SIGNALS = ("cross_top", "cross_sum", "cross_max", "cross_mean", "walk", "user_knn",
           "log_popularity", "history")
"""Per (user, target item): the summed cosine to the user's source items over each source
item's top neighbours only, and over all of them; the largest cosine; the summed cosine per
source item; the RP3 walk score; the neighbouring users' target rows; log(1 + buyers);
the user's number of source items."""

RANKED = ("cross_top", "cross_sum", "walk", "user_knn")
"""Signals whose per-user rank is a feature too, and which choose the candidates."""


class SignalsConfig(BaseModel):
    """Every number the statistics are built with; saved with the reranker that reads them."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    neighbours: int = Field(400, ge=1)
    """Most similar fit users whose target rows a user's ``user_knn`` sums."""
    shrink: float = Field(2.0, ge=0.0)
    """Added to the norm product of the item cosines: damps pairs few users support."""
    top: int = Field(5, ge=1)
    """Largest cosines per source item that ``cross_top`` keeps."""
    walk_alpha: float = Field(0.5, gt=0.0)
    """Exponent on the walk's transition probabilities (fixed here: the fusion grid tunes the
    item graph's own exponents, not these)."""
    walk_beta: float = 0.3
    """Popularity exponent of the walk's target items."""


@dataclass(frozen=True)
class ColdSignals:
    """Item-to-item and user-to-user statistics of the fit users' rows."""

    cross: sp.csr_matrix
    """(n_source, n_target) cosine between item columns over the fit users, shrunk."""
    cross_top: sp.csr_matrix
    """``cross`` with only each source item's ``top`` largest entries."""
    walk: sp.csr_matrix
    """(n_source, n_target) RP3beta weights (``walk_alpha``, ``walk_beta``) over the fit users."""
    idf: np.ndarray
    """1 + log((1 + fit users) / (1 + buyers)) per source item: rare source items say more
    about taste (smoothed so that an item everybody bought still counts a little)."""
    basis: sp.csr_matrix
    """Fit users' source rows, idf-weighted and L2-normalised (the user-kNN index)."""
    basis_target: sp.csr_matrix
    """Fit users' target rows, aligned with ``basis``."""
    popularity: np.ndarray
    """Buyers per target item among the fit users."""
    neighbours: int
    """Most similar fit users whose target rows a user's ``user_knn`` sums."""

    @classmethod
    def build(cls, source: sp.csr_matrix, target: sp.csr_matrix, fit: np.ndarray,
              config: SignalsConfig | None = None) -> ColdSignals:
        """Statistics of rows ``fit`` of the binary (users x items) matrices of each domain."""
        config = config or SignalsConfig()
        if not len(fit):
            raise ValueError("cold signals need fit users with rows in both domains")
        xs, xt = source[fit].tocsr(), target[fit].tocsr()
        cross = cosine_columns(xs, xt, config.shrink)
        walk, _ = walk_weights(xs, xt, config.walk_alpha, config.walk_beta)
        buyers = np.asarray(xs.sum(axis=0)).ravel()
        idf = (1.0 + np.log((1.0 + len(fit)) / (1.0 + buyers))).astype(np.float32)
        return cls(cross=cross, cross_top=keep_top_per_row(cross, config.top), walk=walk, idf=idf,
                   basis=l2_rows((xs @ sp.diags(idf)).tocsr()).astype(np.float32),
                   basis_target=xt.astype(np.float32),
                   popularity=np.asarray(xt.sum(axis=0), dtype=np.float32).ravel(),
                   neighbours=config.neighbours)

    @property
    def n_target(self) -> int:
        return self.cross.shape[1]

    def evidence(self, rows: sp.csr_matrix) -> dict[str, np.ndarray]:
        """Dense (users x n_target) float32 array per name of :data:`SIGNALS`, for users
        with binary source rows ``rows``."""
        rows = rows.tocsr().astype(np.float32)
        count = np.asarray(rows.sum(axis=1), dtype=np.float32)  # (users, 1)
        shape = (rows.shape[0], self.n_target)
        out = {"cross_top": (rows @ self.cross_top).toarray(),
               "cross_sum": (rows @ self.cross).toarray()}
        out["cross_max"] = largest_per_column(rows, self.cross)
        out["cross_mean"] = out["cross_sum"] / np.maximum(count, 1.0)
        out["walk"] = (rows @ self.walk).toarray()
        out["user_knn"] = self._user_knn(rows)
        out["log_popularity"] = np.broadcast_to(np.log1p(self.popularity), shape)
        out["history"] = np.broadcast_to(count, shape)
        return {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}

    def _user_knn(self, rows: sp.csr_matrix) -> np.ndarray:
        query = l2_rows((rows @ sp.diags(self.idf)).tocsr())
        sim = (query @ self.basis.T).toarray()
        k = min(self.neighbours, sim.shape[1])
        if k < sim.shape[1]:  # keep each user's k most similar fit users
            cut = np.partition(sim, sim.shape[1] - k, axis=1)[:, sim.shape[1] - k][:, None]
            sim = np.where(sim >= cut, sim, 0.0)
        return (sp.csr_matrix(sim) @ self.basis_target).toarray().astype(np.float32)
