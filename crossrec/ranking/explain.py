"""Why an item was recommended: the user's source items that contributed most to it.

With an item graph (the hybrid model) a source item's contribution to target item j is its
exact additive term in the graph score, ``W[i, j]``. Without one it is the dot product of the
source item's embedding with the target item's vector in the shared (adapted) space. Either
way the ``n`` largest positive contributions are kept, best first; a recommendation no
source item supports gets no explanation (null).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from numba import njit


@njit(inline="always", cache=True)
def _keep_best(best_w, best_i, w, i, n):
    """Insert (w, i) into the descending list ``best_w``; ties keep the earlier item."""
    if w <= best_w[n - 1]:
        return
    pos = n - 1
    while pos > 0 and best_w[pos - 1] < w:
        best_w[pos] = best_w[pos - 1]
        best_i[pos] = best_i[pos - 1]
        pos -= 1
    best_w[pos] = w
    best_i[pos] = i


@njit(inline="always", cache=True)
def _csr_get(indptr, indices, data, row, col):
    lo, hi = indptr[row], indptr[row + 1]
    while lo < hi:  # indices are sorted within a row
        mid = (lo + hi) // 2
        if indices[mid] < col:
            lo = mid + 1
        else:
            hi = mid
    if lo < indptr[row + 1] and indices[lo] == col:
        return data[lo]
    return 0.0


@njit(nogil=True, cache=True)
def _explain(hist_ptr, hist, recs, n, indptr, indices, data, src_vecs, tgt_vecs):
    """(users x k x n) source-item indices (-1: none) for each recommendation.

    Graph mode when ``indptr`` is non-empty, embedding mode otherwise."""
    users, k = recs.shape
    out = np.full((users, k, n), -1, dtype=np.int64)
    best_w = np.empty(n, dtype=np.float64)
    graph = len(indptr) > 0
    for u in range(users):
        for r in range(k):
            j = recs[u, r]
            if j < 0:
                continue
            best_w[:] = 0.0  # only positive contributions explain anything
            best_i = out[u, r]
            for p in range(hist_ptr[u], hist_ptr[u + 1]):
                i = hist[p]
                if graph:
                    w = _csr_get(indptr, indices, data, i, j)
                else:
                    w = 0.0
                    for d in range(src_vecs.shape[1]):
                        w += src_vecs[i, d] * tgt_vecs[j, d]
                _keep_best(best_w, best_i, w, i, n)
    return out


def explain(source_history: list[np.ndarray], recs: np.ndarray, n: int,
            graph: sp.csr_matrix | None = None, source_vectors: np.ndarray | None = None,
            target_vectors: np.ndarray | None = None) -> np.ndarray:
    """Up to ``n`` contributing source items per recommendation.

    ``source_history``: per user, source-catalogue indices; ``recs``: (users x k) target
    columns (-1 = padding). Give ``graph`` (source x target weights) or both vector tables.
    Returns (users x k x n) source indices, best first, -1 where fewer contribute.
    """
    if n < 1:
        raise ValueError(f"explanations need n >= 1, got {n}")
    lengths = np.fromiter((len(h) for h in source_history), dtype=np.int64,
                          count=len(source_history))
    hist_ptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    hist = (np.concatenate(source_history).astype(np.int64) if lengths.sum()
            else np.zeros(0, dtype=np.int64))
    empty_f = np.zeros((0, 0), dtype=np.float32)
    if graph is not None:
        g = graph.tocsr()
        g.sort_indices()
        return _explain(hist_ptr, hist, recs.astype(np.int64), n, g.indptr.astype(np.int64),
                        g.indices.astype(np.int64), g.data.astype(np.float64), empty_f,
                        empty_f)
    if source_vectors is None or target_vectors is None:
        raise ValueError("explain needs an item graph or both source and target vectors")
    none = np.zeros(0, dtype=np.int64)
    return _explain(hist_ptr, hist, recs.astype(np.int64), n, none, none,
                    np.zeros(0, dtype=np.float64),
                    np.ascontiguousarray(source_vectors, dtype=np.float32),
                    np.ascontiguousarray(target_vectors, dtype=np.float32))


def explanation_array(sources: np.ndarray, item_ids: np.ndarray) -> pa.ListArray:
    """(rows x n) source indices (-1 = none) as a list<string> column of item ids; rows with
    no contributing item are null."""
    valid = sources >= 0
    lengths = valid.sum(axis=1)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    values = pa.array(item_ids[sources[valid]], type=pa.string())
    mask = pa.array(lengths == 0)
    return pa.ListArray.from_arrays(pa.array(offsets), values, mask=mask)
