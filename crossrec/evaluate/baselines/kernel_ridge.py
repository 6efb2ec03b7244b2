"""Kernel ridge regression from a user's source row to their target row, over bridge users."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from crossrec.data.domain import DomainData
from crossrec.evaluate.baselines.bridge import BridgeRows
from crossrec.evaluate.baselines.tuning import TunedRecommender, grid


def conjugate_gradients(matvec: Callable[[np.ndarray], np.ndarray], b: np.ndarray,
                        diagonal: np.ndarray, shift: float, tol: float = 1e-4,
                        max_iter: int = 1000) -> np.ndarray:
    """Solve ``(A + shift I) x = b`` for every column of ``b`` (A symmetric positive
    semi-definite, ``matvec(P) = A P``, ``diagonal`` its diagonal, the preconditioner). Each
    column runs its own conjugate gradients and stops once its residual is below ``tol`` times
    its right-hand side, so a column's solution does not depend on the other columns of its
    batch."""
    inverse = 1.0 / (diagonal + shift)[:, None]
    x = np.zeros_like(b)
    r = b.copy()
    z = r * inverse
    p = z.copy()
    rz = np.einsum("ij,ij->j", r, z)
    goal = tol ** 2 * np.einsum("ij,ij->j", b, b)
    active = np.flatnonzero(np.einsum("ij,ij->j", r, r) > goal)
    for _ in range(max_iter):
        if not len(active):
            break
        pa = p[:, active]
        ap = matvec(pa) + shift * pa
        step = rz[active] / np.einsum("ij,ij->j", pa, ap)
        x[:, active] += step * pa
        ra = r[:, active] - step * ap
        za = ra * inverse
        new = np.einsum("ij,ij->j", ra, za)
        r[:, active] = ra
        p[:, active] = za + (new / rz[active]) * pa
        rz[active] = new
        active = active[np.einsum("ij,ij->j", ra, ra) > goal[active]]
    return x


class KernelRidge(TunedRecommender):
    """Predicts a user's target row from their binary source row ``x`` as

        x S_Bᵀ (S_B S_Bᵀ + λ I)⁻¹ T_B

    with ``S_B`` / ``T_B`` the bridge users' binary source / target rows: the dual form of a
    ridge regression source items -> target items (EASE-like, but solved over bridge users, not
    items). Neither the (bridge x bridge) kernel nor the (source x target) weights are formed:
    conjugate gradients solve for each user's bridge-user coefficients with sparse products
    ``S_B (S_Bᵀ v)`` (Jacobi-preconditioned, to a relative residual of ``tol``: rankings do
    not need more), so memory stays a few (bridge users x users in the block) arrays.
    λ is a multiple (``lambdas``, tuned) of the bridge users' mean number of source items, so
    the grid means the same on any data. Users with target rows add the within-target item
    kNN of :class:`BridgeRows`.
    """

    def __init__(self, data: DomainData, lambdas: Sequence[float] = (1.0, 10.0, 100.0),
                 tol: float = 1e-4):
        self.data = data
        self._rows = BridgeRows(data)
        self._sb = self._rows.bridge_source().astype(np.float64)
        self._sb_t = self._sb.T.tocsr()
        self._tb_t = self._rows.bridge_target().T.tocsr().astype(np.float64)
        # the kernel's diagonal: each bridge user's number of source items
        self._diagonal = np.asarray(self._sb.sum(axis=1), dtype=np.float64).ravel()
        self.scale = float(self._diagonal.mean())
        self.tol = tol
        # a handful of float64 (bridge users x block) arrays live beside the float32 scores
        self.score_copies = 2 + 10 * -(-self._sb.shape[0] // self._tb_t.shape[0])
        self.lam = lambdas[0]
        self.tune(grid(lam=lambdas))
        self.chosen |= {"lambda": round(self.lam * self.scale, 4),
                        "bridge_users": self._sb.shape[0]}

    def configure(self, lam: float) -> None:
        self.lam = lam

    def score(self, users: np.ndarray) -> torch.Tensor:
        users = np.asarray(users, dtype=np.int64)
        rhs = (self._rows.source[users] @ self._sb_t).T.toarray()  # S_B xᵀ, (bridge, users)
        coef = conjugate_gradients(lambda v: self._sb @ (self._sb_t @ v), rhs,
                                   self._diagonal, self.lam * self.scale, self.tol)
        scores = (self._tb_t @ coef).T + self._rows.warm(users)
        return torch.from_numpy(np.ascontiguousarray(scores, dtype=np.float32))
