"""In-memory view of ``mart_interactions`` that trainers, the evaluator and the scorer share.

The vocabulary holds only items that have at least one *training* row: the ranking candidates of
the evaluation protocol ("all target items seen in training", docs/architecture.md). Items seen
only in held-out rows cannot be recommended and are ignored when they appear in a history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import torch

from crossrec.data.vocab import PAD, Vocabulary

EVAL_ROLES = ("cold_val", "cold_test", "warm_test")


@dataclass
class DomainData:
    vocab: Vocabulary
    source: str
    target: str
    users: np.ndarray
    """User id of each user index."""
    train_hist: dict[str, list[np.ndarray]]
    """Per domain, per user index: training item indices in time order."""
    all_hist: dict[str, list[np.ndarray]]
    """Per domain, per user index: every known item index (all roles): for scoring."""
    truth: dict[str, dict[int, np.ndarray]]
    """Per evaluation role: user index -> held-out target item indices (global)."""
    truth_sizes: dict[str, dict[int, int]]
    """Per role: user index -> number of held-out items, including ones not in the vocabulary."""
    user_role: np.ndarray
    """Split of each user: train, cold_val or cold_test."""
    weak_negatives: list[np.ndarray] | None = None
    """Per user index: target items shown to the user and not taken (``mart_weak_negatives``,
    global indices), or None without click feedback."""
    _recent: dict[tuple[str, str, int], np.ndarray] = field(default_factory=dict, repr=False)

    def recent(self, domain: str, width: int, which: str = "train") -> np.ndarray:
        """(n_users, width) matrix of each user's last ``width`` items in ``domain``, oldest
        first, right-aligned (PAD on the left); built once per (domain, width), vectorised."""
        key = (which, domain, width)
        if key not in self._recent:
            hist = (self.train_hist if which == "train" else self.all_hist)[domain]
            self._recent[key] = recent_matrix(hist, width)
        return self._recent[key]

    def history_tensor(self, users: np.ndarray, domains: tuple[str, ...], max_len: int,
                       which: str = "train") -> torch.Tensor:
        """Padded (n, len) history of the most recent ``max_len`` items per domain."""
        parts = [self.recent(d, max_len, which)[users] for d in domains]
        return torch.from_numpy(trim_padding(np.concatenate(parts, axis=1)))


def recent_matrix(hist: list[np.ndarray], width: int) -> np.ndarray:
    """Right-aligned last ``width`` items of each list, PAD-filled, without a per-user loop."""
    out = np.full((len(hist), width), PAD, dtype=np.int64)
    lengths = np.fromiter((len(h) for h in hist), dtype=np.int64, count=len(hist))
    if not lengths.sum():
        return out
    flat = np.concatenate(hist).astype(np.int64)
    user = np.repeat(np.arange(len(hist)), lengths)
    ends = np.cumsum(lengths)
    from_end = ends[user] - 1 - np.arange(len(flat))  # 0 = the user's newest item
    keep = from_end < width
    out[user[keep], width - 1 - from_end[keep]] = flat[keep]
    return out


def trim_padding(matrix: np.ndarray) -> np.ndarray:
    """Drop columns that are padding for every row (at least one column stays)."""
    used = (matrix != PAD).any(axis=0)
    if used.all():
        return matrix
    return matrix[:, used] if used.any() else matrix[:, :1]


def _per_user(frame: pl.DataFrame, users: dict[str, int], n_users: int) -> list[np.ndarray]:
    out = [np.zeros(0, dtype=np.int64) for _ in range(n_users)]
    grouped = frame.sort("event_ts", "item_id").group_by("user_id", maintain_order=True).agg("idx")
    for uid, idx in grouped.iter_rows():
        out[users[uid]] = np.asarray(idx, dtype=np.int64)
    return out


def load_domain_data(mart_interactions: Path, mart_eval_split: Path, source: str,
                     target: str, every_row: bool = False) -> DomainData:
    """The marts of the (source, target) pair. ``every_row``: every row is a training row and
    every user a training user (the held-out roles are empty): what the refit after selection
    trains on and what the published model scores, so no known row is left out."""
    rows = pl.read_parquet(mart_interactions)
    split = pl.read_parquet(mart_eval_split).sort("user_id")
    if every_row:
        rows = rows.with_columns(role=pl.lit("train"))
        split = split.with_columns(user_split=pl.lit("train"))
    train = rows.filter(pl.col("role") == "train")
    vocab = Vocabulary.from_items(train.select("item_id", "domain").unique(), [source, target])
    user_ids = split["user_id"].to_numpy().astype(object)
    users = {u: i for i, u in enumerate(user_ids)}
    lookup = pl.DataFrame({"item_id": list(vocab.index), "idx": list(vocab.index.values())},
                          schema={"item_id": pl.String, "idx": pl.Int64})
    known = rows.join(lookup, on="item_id", how="inner")
    train_hist, all_hist = {}, {}
    for d in (source, target):
        dom = known.filter(pl.col("domain") == d)
        train_hist[d] = _per_user(dom.filter(pl.col("role") == "train"), users, len(users))
        all_hist[d] = _per_user(dom, users, len(users))
    truth, sizes = {}, {}
    for role in EVAL_ROLES:
        held = rows.filter(pl.col("role") == role)
        sizes[role] = {users[u]: n for u, n in held.group_by("user_id").len().iter_rows()}
        in_vocab = known.filter(pl.col("role") == role).group_by("user_id").agg("idx")
        truth[role] = {users[u]: np.asarray(i, dtype=np.int64) for u, i in in_vocab.iter_rows()}
    return DomainData(vocab, source, target, user_ids, train_hist, all_hist, truth, sizes,
                      split["user_split"].to_numpy().astype(object))


def load_weak_negatives(path: Path, data: DomainData) -> list[np.ndarray]:
    """Per user index, the global indices of their weak-negative target items; users and items
    the vocabulary does not know are left out."""
    frame = pl.read_parquet(path, columns=["user_id", "item_id"])
    users = {u: i for i, u in enumerate(data.users)}
    start, stop = data.vocab.domain_ranges[data.vocab.domains.index(data.target)]
    out = [np.zeros(0, dtype=np.int64) for _ in range(len(data.users))]
    grouped: dict[int, list[int]] = {}
    for user, item in frame.iter_rows():
        u, i = users.get(user), data.vocab.index.get(item)
        if u is not None and i is not None and start <= i < stop:
            grouped.setdefault(u, []).append(i)
    for u, items in grouped.items():
        out[u] = np.asarray(sorted(items), dtype=np.int64)
    return out
