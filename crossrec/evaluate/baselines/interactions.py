"""Sparse user x item matrices of training rows, shared by the baselines.

Rows are user indices into ``data.users``; columns are catalogue-local item positions of one
domain (global item index minus the domain's start), so target columns match score columns.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from crossrec.models.item_graph import interaction_matrix
from crossrec.train.data import DomainData

SOURCE, TARGET = 0, 1
"""Positions in ``data.vocab.domain_ranges``."""


def domain_matrix(data: DomainData, pos: int, binary: bool = True) -> sp.csr_matrix:
    """(n_users, n_items_of_domain) CSR of every user's training rows in domain ``pos``.

    With ``binary`` a repeated interaction counts once; otherwise entries are counts.
    """
    domain = (data.source, data.target)[pos]
    start, stop = data.vocab.domain_ranges[pos]
    return interaction_matrix(data.train_hist[domain], start, stop - start, binary)


def overlap_users(source: sp.csr_matrix, target: sp.csr_matrix) -> np.ndarray:
    """Users with training rows in both domains: what every cross-domain baseline learns from."""
    both = np.flatnonzero((source.getnnz(axis=1) > 0) & (target.getnnz(axis=1) > 0))
    if not len(both):
        raise ValueError("no user has training rows in both domains: a cross-domain baseline "
                         "has nothing to learn the source -> target link from")
    return both
