"""Exact batch top-k over a catalogue in bounded memory.

:func:`topn` is the dot-product kernel: on CPU it multiplies a block of users with one
cache-sized tile of items at a time and feeds each tile straight to the streaming selection
of :mod:`crossrec.ranking.select`, so the working memory is ``memory_mb`` whatever the
catalogue size, and the selection reads each score while it is still in cache. On CUDA the
product and ``torch.topk`` (fast there) run on the device in user blocks.

:func:`blocked_topk` ranks arbitrary score blocks (the hybrid model's fused scores) with the
same selection.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import torch
from scipy.stats import binom

from crossrec.ranking.select import Seen, TopK, as_seen, mask_seen_np

ScoreBlock = Callable[[int, int], torch.Tensor]
"""``(start, stop) -> (stop - start, n_items)`` scores of users ``start:stop``."""

ITEM_TILE = 512
"""Items per CPU tile: with 1024-user blocks a 2 MB tile, still in cache when it is ranked
(the fastest product shape measured on the 2-core bench machine)."""

SEED_ITEMS = 2048
"""Columns ranked first in each block to guess a floor for the rest (see :func:`topn`)."""

DEFAULT_MEMORY_MB = 256
"""Working memory of one scoring block unless configured ([score] memory_mb)."""


def mask_seen_(scores: torch.Tensor, seen: Sequence[np.ndarray]) -> torch.Tensor:
    """Set ``scores[i, seen[i]] = -inf`` in place (``seen`` holds column indices)."""
    lengths = [len(s) for s in seen]
    if sum(lengths):
        rows = torch.from_numpy(np.repeat(np.arange(len(seen)), lengths))
        cols = torch.from_numpy(np.concatenate(seen).astype(np.int64))
        scores[rows, cols] = -torch.inf
    return scores


def block_rows(memory_mb: float, row_bytes: int, cap: int = 4096) -> int:
    """Rows per block so that ``rows * row_bytes`` fits in ``memory_mb`` (at least 1)."""
    if memory_mb <= 0:
        raise ValueError(f"memory_mb must be positive, got {memory_mb}")
    return int(max(1, min(cap, memory_mb * 2**20 // max(row_bytes, 1))))


def _empty(n_users: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    return (np.full((n_users, k), -1, dtype=np.int64),
            np.full((n_users, k), -np.inf, dtype=np.float32))


def _device_topk(scores: torch.Tensor, k: int, seen: Seen | None, first_row: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """torch.topk on the scores' device (the CUDA path)."""
    if seen is not None:
        ptr = seen.indptr[first_row:first_row + len(scores) + 1]
        rows = np.repeat(np.arange(len(scores)), np.diff(ptr))
        cols = seen.indices[ptr[0]:ptr[-1]]
        scores[torch.from_numpy(rows).to(scores.device),
               torch.from_numpy(cols).to(scores.device)] = -torch.inf
    top = torch.topk(scores, min(k, scores.shape[1]), dim=1)
    ids, vals = _empty(len(scores), k)
    v = top.values.float().cpu().numpy()
    i = top.indices.cpu().numpy()
    i[~np.isfinite(v)] = -1
    ids[:, :v.shape[1]], vals[:, :v.shape[1]] = i, v
    return ids, vals


def blocked_topk(score_block: ScoreBlock, n_users: int, k: int,
                 seen: Seen | Sequence[np.ndarray] | None = None,
                 block: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and scores of each user's best ``k`` items, best first.

    ``score_block`` must return a tensor the caller may overwrite (seen items are masked in
    place). Rows with fewer than ``k`` unseen items are padded with index -1 and score ``-inf``.
    """
    seen = as_seen(seen)
    ids, vals = _empty(n_users, k)
    for start in range(0, n_users, block):
        stop = min(start + block, n_users)
        scores = score_block(start, stop)
        if scores.device.type != "cpu":
            ids[start:stop], vals[start:stop] = _device_topk(scores, k, seen, start)
            continue
        tile = np.ascontiguousarray(scores.float().numpy())
        ids[start:stop], vals[start:stop] = _rank_block(tile, k, seen, start,
                                                        max(1, torch.get_num_threads()))
    return ids, vals


def seed_rank(k: int, sample: int, n_items: int, miss: float = 1e-3) -> int | None:
    """Rank ``j`` such that the j-th best score among ``sample`` of ``n_items`` columns is a
    lower bound on the k-th best of all of them, except with probability about ``miss``.

    The j-th best of the sample is too high only when ``j`` or more of the true top k lie in
    the sample: Binomial(k, sample / n_items). None when guessing would not pay off."""
    if sample >= n_items or k >= sample:
        return None
    j = int(binom.ppf(1.0 - miss, k, sample / n_items)) + 1
    return j if j < min(k, sample) else None


def topn(user_vectors: torch.Tensor, item_vectors: torch.Tensor, k: int,
         seen: Seen | Sequence[np.ndarray] | None = None,
         memory_mb: float = DEFAULT_MEMORY_MB) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` of ``user_vectors @ item_vectors.T`` per user, excluding ``seen``.

    Returns (columns, scores), best first, ties broken by the lower column on CPU. Working
    memory is about ``memory_mb`` (plus the ``n_users x k`` result): users are processed in
    blocks and, on CPU, items in tiles of :data:`ITEM_TILE`.

    On CPU each of ``torch.get_num_threads()`` threads ranks whole user blocks (product and
    selection on one core, torch single-threaded meanwhile). The first :data:`SEED_ITEMS`
    columns of a block are ranked first, and a score
    near each user's k-th best there becomes a floor below which later scores are skipped
    (:func:`seed_rank`). Users for whom the floor proves too high (fewer than k scores reach
    it, about one in a thousand) are ranked again without one, so the result stays exact.
    """
    seen = as_seen(seen)
    n_users, n_items = user_vectors.shape[0], item_vectors.shape[0]
    if seen is not None and seen.n_users != n_users:
        raise ValueError(f"seen has {seen.n_users} users, user_vectors {n_users}")
    if user_vectors.device.type != "cpu":
        items_t = item_vectors.to(user_vectors.device, user_vectors.dtype).T.contiguous()
        rows = block_rows(memory_mb, 4 * n_items)
        return blocked_topk(lambda a, b: user_vectors[a:b] @ items_t, n_users, k, seen, rows)
    return _cpu_topn(user_vectors.float().contiguous(), item_vectors.float(), k, seen,
                     memory_mb, guess=True)


@contextmanager
def torch_threads(n: int):
    """Run torch ops single-threaded (n=1) while our own threads share the cores; restores
    the previous setting. Process-wide: other torch work meanwhile runs single-threaded."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield before
    finally:
        torch.set_num_threads(before)


def _rank_rows(scores: np.ndarray, k: int, seen: Seen | None, first_row: int
               ) -> tuple[np.ndarray, np.ndarray]:
    top = TopK(len(scores), k)
    top.push(scores, 0, seen, first_row)
    return top.result()


def _rank_block(scores: np.ndarray, k: int, seen: Seen | None, first_row: int,
                threads: int) -> tuple[np.ndarray, np.ndarray]:
    """Top k of each row of a dense CPU score block, its rows split among ``threads``."""
    step = -(-len(scores) // threads)
    starts = range(0, len(scores), max(step, 1))
    with torch_threads(1), ThreadPoolExecutor(threads) as pool:
        parts = list(pool.map(lambda a: _rank_rows(scores[a:a + step], k, seen,
                                                   first_row + a), starts))
    if not parts:
        return _empty(0, k)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


class _Tiles:
    """The item side of the CPU kernel: contiguous (d x width) item tiles and the floor."""

    def __init__(self, items: torch.Tensor, k: int, guess: bool):
        n_items = items.shape[0]
        self.k, self.n_items = k, n_items
        self.width = min(ITEM_TILE, max(n_items, 1))
        # each product writes one cache-sized (rows x width) tile
        self.tiles = [items[c:c + self.width].T.contiguous()
                      for c in range(0, n_items, self.width)]
        self.n_seed = -(-min(SEED_ITEMS, n_items) // self.width)  # whole tiles
        self.j = (seed_rank(k, min(self.n_seed * self.width, n_items), n_items)
                  if guess else None)

    def rank(self, block: torch.Tensor, seen: Seen | None, first_row: int) -> tuple:
        """(columns, scores, unproven rows) of one user block, on the calling thread."""
        n = block.shape[0]
        top = TopK(n, self.k)

        # reused output buffers: a fresh 2 MB tensor per tile would page-fault every time
        buffers = [torch.empty((n, self.width)) for _ in range(self.n_seed + 1)]

        def product(t: int, buffer: torch.Tensor) -> np.ndarray:
            out = buffer[:, :self.tiles[t].shape[1]]
            if not out.is_contiguous():  # the last, narrower tile
                out = torch.empty((n, self.tiles[t].shape[1]))
            scores = torch.mm(block, self.tiles[t], out=out).numpy()
            if seen is not None:
                mask_seen_np(scores, t * self.width, seen, first_row)
            return scores

        first = [product(t, buffers[t]) for t in range(self.n_seed)]
        if self.j is not None:
            seed = TopK(n, self.j)
            for t, scores in enumerate(first):
                seed.push(scores, t * self.width)
            top.floor[:] = seed.vals[:, 0]  # a min-heap's root: the j-th best
        for t, scores in enumerate(first):
            top.push(scores, t * self.width)
        for t in range(self.n_seed, len(self.tiles)):
            top.push(product(t, buffers[-1]), t * self.width)
        ids, vals = top.result()
        return ids, vals, top.unproven()


def _cpu_topn(users: torch.Tensor, items: torch.Tensor, k: int, seen: Seen | None,
              memory_mb: float, guess: bool) -> tuple[np.ndarray, np.ndarray]:
    n_users = users.shape[0]
    tiles = _Tiles(items, k, guess)
    threads = max(1, torch.get_num_threads())
    per_thread = memory_mb / threads / (tiles.n_seed + 1)
    rows = block_rows(per_thread, 4 * tiles.width + 12 * k, cap=1024)
    ids, vals = _empty(n_users, k)
    redo = []
    with torch_threads(1), ThreadPoolExecutor(threads) as pool:
        # each thread ranks whole user blocks: product and selection on one core
        jobs = [(a, min(a + rows, n_users)) for a in range(0, n_users, rows)]
        for (a, b), (i, v, unproven) in zip(
                jobs, pool.map(lambda ab: tiles.rank(users[ab[0]:ab[1]], seen, ab[0]), jobs),
                strict=True):
            ids[a:b], vals[a:b] = i, v
            redo.append(a + unproven)
    again = np.concatenate(redo) if redo else np.zeros(0, dtype=np.int64)
    if len(again):  # the guessed floor was too high for these users: rank them again
        ids[again], vals[again] = _cpu_topn(
            users[again], items, k, seen.subset(again) if seen is not None else None,
            memory_mb, guess=False)
    return ids, vals
