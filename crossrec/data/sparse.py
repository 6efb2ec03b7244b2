"""Sparse user x item matrices of training rows and the item-similarity helpers built on them,
shared by the model components, the reranker's signals and the baselines.

Rows are user indices into ``data.users``; columns are catalogue-local item positions of one
domain (global item index minus the domain's start), so target columns match score columns.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from crossrec.data.domain import DomainData

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


def interaction_matrix(hist: list[np.ndarray], start: int, n_items: int,
                       binary: bool = True) -> sp.csr_matrix:
    """(users x items) CSR of per-user lists of global item indices; columns are index - start.
    With ``binary`` a repeated interaction counts once; otherwise entries are counts."""
    lengths = np.fromiter((len(h) for h in hist), dtype=np.int64, count=len(hist))
    cols = (np.concatenate(hist).astype(np.int64) - start if lengths.sum()
            else np.zeros(0, dtype=np.int64))
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    matrix = sp.csr_matrix((np.ones(len(cols), dtype=np.float32), cols, indptr),
                           shape=(len(hist), n_items))
    matrix.sum_duplicates()
    if binary:
        matrix.data[:] = 1.0
    return matrix


def cosine_columns(a: sp.csr_matrix, b: sp.csr_matrix, shrink: float = 0.0) -> sp.csr_matrix:
    """Cosine between every column of ``a`` and every column of ``b`` (same rows), sparse.

    ``shrink`` is added to the norm product: it damps pairs supported by few users.
    Columns without any row have similarity 0 to everything.
    """
    sim = (a.T @ b).tocsr()
    sq_a = np.asarray(a.multiply(a).sum(axis=0), dtype=np.float64).ravel()
    sq_b = np.asarray(b.multiply(b).sum(axis=0), dtype=np.float64).ravel()
    rows = np.repeat(np.arange(sim.shape[0]), np.diff(sim.indptr))
    # sqrt of the product of squared norms: exact for the integer counts of binary columns
    norms = np.sqrt(sq_a[rows] * sq_b[sim.indices])
    sim.data = (sim.data / (norms + shrink)).astype(np.float32)
    return sim


def keep_top_per_row(sim: sp.csr_matrix, k: int | None) -> sp.csr_matrix:
    """Only the ``k`` largest entries of each row (ties: lower column first); None keeps all."""
    if k is None:
        return sim
    sim = sim.tocsr(copy=True)
    rows = np.repeat(np.arange(sim.shape[0]), np.diff(sim.indptr))
    order = np.lexsort((sim.indices, -sim.data, rows))  # by row, then value descending
    rank = np.empty(sim.nnz, dtype=np.int64)
    rank[order] = np.arange(sim.nnz) - sim.indptr[rows[order]]
    sim.data[rank >= k] = 0.0
    sim.eliminate_zeros()
    return sim


def cross_cosine(source: sp.csr_matrix, target: sp.csr_matrix, neighbours: int | None = None,
                 shrink: float = 0.0) -> sp.csr_matrix:
    """(n_source_items, n_target_items) cosine of the columns over the users with rows in both
    domains (rows aligned); ``neighbours`` keeps the top target items per source item.
    Raises ValueError when no user has rows in both."""
    both = overlap_users(source, target)
    # norms over overlapping users only: a cold user's source rows say nothing about targets
    return keep_top_per_row(cosine_columns(source[both], target[both], shrink), neighbours)


def within_domain_cosine(matrix: sp.csr_matrix, neighbours: int | None = None,
                         shrink: float = 0.0) -> sp.csr_matrix:
    """Item-item cosine of one domain without self-similarity."""
    sim = cosine_columns(matrix, matrix, shrink)
    sim = (sim - sp.diags(sim.diagonal())).tocsr()
    sim.eliminate_zeros()
    return keep_top_per_row(sim, neighbours)


def largest_per_column(rows: sp.csr_matrix, matrix: sp.csr_matrix) -> np.ndarray:
    """Dense (users x columns): for each user, the largest ``matrix[i, j]`` over the items
    ``i`` of their binary row in ``rows`` (0 where none reaches column j)."""
    # every (user, item) pair's matrix row, reduced by max per (user, column)
    owner = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
    gathered = matrix[rows.indices].tocoo()
    out = np.zeros((rows.shape[0], matrix.shape[1]), dtype=np.float32)
    np.maximum.at(out, (owner[gathered.row], gathered.col), gathered.data)
    return out


def l2_rows(m: sp.csr_matrix) -> sp.csr_matrix:
    """Rows scaled to unit L2 norm (all-zero rows stay zero)."""
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1), dtype=np.float64).ravel())
    return (sp.diags(1.0 / np.maximum(norms, 1e-12)) @ m).tocsr()
