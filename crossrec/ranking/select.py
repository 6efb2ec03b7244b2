"""Exact streaming top-k selection over score tiles, compiled with numba.

``torch.topk`` over a 50k-column row costs several times the matrix product that made the
row, because it sorts. Here each user keeps a min-heap of its best k so far, and each tile
of scores is offered to it while the tile is still in cache:

- a per-64-column maximum (one vectorised torch reduction) skips segments where nothing
  reaches the row's threshold, which late in a row is almost all of them;
- the other segments go through a branch-free filter, and only its few survivors are
  compared with the heap's root and sifted in.

The threshold is the heap's root, or a ``floor`` the caller guessed (see
:func:`crossrec.ranking.topn.topn`); :meth:`TopK.unproven` names the rows where a guess
was too high, so the caller can rank them again.

The kernels are serial and release the GIL: callers get parallelism by giving each thread
its own rows (and their own :class:`TopK`), which keeps every tile in one core's cache.

Ties: the heap orders by ``(score, -column)``, so the result is the top k by
``(score desc, column asc)`` whatever the tiling, tile order or number of threads. ``-inf``
(masked, already-seen items) never enters: rows with fewer than k candidates are padded with
column -1 and score ``-inf``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from numba import njit


@njit(inline="always", cache=True)
def _better(v, i, than_v, than_i):
    """The order of the top k: higher score, then lower column."""
    return v > than_v or (v == than_v and i < than_i)


@njit(inline="always", cache=True)
def _replace_root(vals, ids, v, i):
    """Min-heap on ``_better``: put (v, i) in place of the worst kept and sift it down."""
    k = vals.shape[0]
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= k:
            break
        right = child + 1
        if right < k and _better(vals[child], ids[child], vals[right], ids[right]):
            child = right
        if _better(v, i, vals[child], ids[child]):
            vals[pos] = vals[child]
            ids[pos] = ids[child]
            pos = child
        else:
            break
    vals[pos] = v
    ids[pos] = i


@njit(inline="always", cache=True)
def _at_least(row, start, stop, t, pos):
    """Write the positions of ``row[start:stop] >= t`` to ``pos``; returns how many.
    Branch-free: every position is written and the count advances only on a hit."""
    m = 0
    for q in range(start, stop):
        pos[m] = q
        m += row[q] >= t
    return m


@njit(inline="always", cache=True)
def _offer(row, start, stop, offset, v, ix, floor, pos):
    """Offer ``row[start:stop]`` to one heap: a branch-free filter against the current
    threshold, then the (few) survivors are compared exactly."""
    n = _at_least(row, start, stop, max(v[0], floor), pos)
    for p in range(n):
        q = pos[p]
        if _better(row[q], q + offset, v[0], ix[0]):
            _replace_root(v, ix, row[q], q + offset)


@njit(nogil=True, cache=True)
def _push_tile(tile, offset, vals, ids, floor, pos):
    """Offer each row of ``tile`` to that row's heap (``vals[r, 0]`` is its k-th best);
    scores below the row's ``floor`` are not even candidates."""
    for r in range(tile.shape[0]):
        _offer(tile[r], 0, tile.shape[1], offset, vals[r], ids[r], floor[r], pos)


@njit(nogil=True, cache=True)
def _push_segments(tile, segmax, offset, vals, ids, floor, pos):
    """As :func:`_push_tile`, but only segments whose maximum reaches the threshold are
    filtered: late in a row almost none does."""
    width = tile.shape[1] // segmax.shape[1]
    for r in range(tile.shape[0]):
        row, v, ix = tile[r], vals[r], ids[r]
        for g in range(segmax.shape[1]):
            if segmax[r, g] >= max(v[0], floor[r]):
                _offer(row, g * width, (g + 1) * width, offset, v, ix, floor[r], pos)


@njit(nogil=True, cache=True)
def _finish(vals, ids, out_vals, out_ids):
    """Each heap best first (score descending, then column ascending); empty slots last."""
    for r in range(vals.shape[0]):
        n = 0
        for j in range(vals.shape[1]):
            if ids[r, j] >= 0:
                out_vals[r, n] = vals[r, j]
                out_ids[r, n] = ids[r, j]
                n += 1
        v, i = out_vals[r, :n], out_ids[r, :n]
        order = np.argsort(-v)
        v[:], i[:] = v[order], i[order]
        start = 0
        while start < n:  # equal scores: lower column first
            stop = start + 1
            while stop < n and v[stop] == v[start]:
                stop += 1
            if stop - start > 1:
                i[start:stop] = np.sort(i[start:stop])
            start = stop


@njit(nogil=True, cache=True)
def _mask_seen(tile, offset, indptr, indices, first_row):
    """``tile[r, c - offset] = -inf`` for each seen column c of user ``first_row + r``."""
    n_cols = tile.shape[1]
    for r in range(tile.shape[0]):
        for p in range(indptr[first_row + r], indptr[first_row + r + 1]):
            c = indices[p] - offset
            if 0 <= c < n_cols:
                tile[r, c] = -np.inf


SEGMENT = 64
"""Columns summarised by one maximum before any of them is looked at."""


class Seen:
    """Each user's excluded columns in CSR form (``indptr`` over users, ``indices``)."""

    __slots__ = ("indptr", "indices")

    def __init__(self, indptr: np.ndarray, indices: np.ndarray):
        self.indptr = np.ascontiguousarray(indptr, dtype=np.int64)
        self.indices = np.ascontiguousarray(indices, dtype=np.int64)
        if self.indptr[0] != 0 or self.indptr[-1] != len(self.indices):
            raise ValueError("Seen: indptr must start at 0 and end at len(indices)")

    @classmethod
    def from_lists(cls, seen: Sequence[np.ndarray]) -> Seen:
        lengths = np.fromiter((len(s) for s in seen), dtype=np.int64, count=len(seen))
        indices = (np.concatenate(seen).astype(np.int64) if lengths.sum()
                   else np.zeros(0, dtype=np.int64))
        return cls(np.concatenate([[0], np.cumsum(lengths)]), indices)

    def subset(self, users: np.ndarray) -> Seen:
        """The rows of ``users``, renumbered from 0."""
        return Seen.from_lists([self.indices[self.indptr[u]:self.indptr[u + 1]] for u in users])

    @property
    def n_users(self) -> int:
        return len(self.indptr) - 1


def as_seen(seen: Seen | Sequence[np.ndarray] | None) -> Seen | None:
    return seen if seen is None or isinstance(seen, Seen) else Seen.from_lists(seen)


def mask_seen_np(tile: np.ndarray, offset: int, seen: Seen, first_row: int) -> None:
    """Set the seen columns of users ``first_row ...`` in ``tile`` (columns ``offset ...``)
    to ``-inf``, in place."""
    _mask_seen(tile, offset, seen.indptr, seen.indices, first_row)


class TopK:
    """Running top-k of ``n_rows`` users over column tiles fed in any order."""

    def __init__(self, n_rows: int, k: int):
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        self.k, self.n_rows = k, n_rows
        # empty slots: score -inf, column -1 (never better than a real -inf, so masked
        # items cannot fill them)
        self.vals = np.full((n_rows, k), -np.inf, dtype=np.float32)
        self.ids = np.full((n_rows, k), -1, dtype=np.int64)
        self.floor = np.full(n_rows, -np.inf, dtype=np.float32)
        """A guessed lower bound on each row's k-th best score: scores below it are skipped.
        Exact whenever the row ends with k kept scores (see :meth:`unproven`)."""
        self._pos = np.empty(0, dtype=np.int64)

    def push(self, tile: np.ndarray, offset: int = 0, seen: Seen | None = None,
             first_row: int = 0) -> None:
        """Offer ``tile`` (rows x columns ``offset : offset + tile.shape[1]``).

        ``seen`` columns of users ``first_row ...`` are set to ``-inf`` first (in place).
        """
        if tile.dtype != np.float32 or not tile.flags.c_contiguous:
            raise TypeError("TopK.push needs a C-contiguous float32 tile")
        if tile.shape[0] != self.n_rows:
            raise ValueError(f"tile has {tile.shape[0]} rows, TopK {self.n_rows}")
        if seen is not None:
            mask_seen_np(tile, offset, seen, first_row)
        if len(self._pos) < tile.shape[1]:
            self._pos = np.empty(tile.shape[1], dtype=np.int64)
        if tile.shape[1] % SEGMENT == 0:
            # the segment maxima are one vectorised reduction (torch, zero-copy)
            segmax = torch.from_numpy(tile).view(self.n_rows, -1, SEGMENT).amax(-1).numpy()
            _push_segments(tile, segmax, offset, self.vals, self.ids, self.floor, self._pos)
        else:
            _push_tile(tile, offset, self.vals, self.ids, self.floor, self._pos)

    def unproven(self) -> np.ndarray:
        """Rows whose floor may have hidden part of their top k: fewer than k scores reached
        it. (A row with k scores at or above its floor has its exact top k.)"""
        return np.flatnonzero((self.ids[:, 0] < 0) & np.isfinite(self.floor))

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """(columns, scores), each row best first; padding is column -1, score -inf."""
        ids = np.full((self.n_rows, self.k), -1, dtype=np.int64)
        vals = np.full((self.n_rows, self.k), -np.inf, dtype=np.float32)
        _finish(self.vals, self.ids, vals, ids)
        return ids, vals
