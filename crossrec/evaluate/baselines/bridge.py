"""What the user-to-user baselines share: the bridge users and the within-target item kNN."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from crossrec.data.domain import DomainData
from crossrec.data.sparse import SOURCE, TARGET, domain_matrix, overlap_users, within_domain_cosine


class BridgeRows:
    """Binary training rows of every user, the bridge users (training rows in both domains:
    a cold user's target rows are held out, so never one of them) and, for users with target
    rows, :class:`CooccurrenceKNN`'s within-target part (5 neighbours, shrink 2)."""

    def __init__(self, data: DomainData):
        self.source = domain_matrix(data, SOURCE)
        self.target = domain_matrix(data, TARGET)
        self.bridge = overlap_users(self.source, self.target)
        self.within = within_domain_cosine(self.target, 5, 2.0)

    def warm(self, users: np.ndarray) -> np.ndarray:
        """Dense (users x n_target) within-target scores (zero for users without target rows)."""
        return (self.target[users] @ self.within).toarray().astype(np.float32)

    def bridge_position(self, users: np.ndarray) -> np.ndarray:
        """Each user's row among the bridge users, -1 when not one."""
        pos = np.full(self.source.shape[0], -1, dtype=np.int64)
        pos[self.bridge] = np.arange(len(self.bridge))
        return pos[users]

    def bridge_source(self) -> sp.csr_matrix:
        return self.source[self.bridge].tocsr()

    def bridge_target(self) -> sp.csr_matrix:
        return self.target[self.bridge].tocsr()
