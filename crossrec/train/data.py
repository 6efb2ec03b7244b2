"""In-memory view of ``mart_interactions`` that trainers, the evaluator and the scorer share.

The vocabulary holds only items that have at least one *training* row: the ranking candidates of
DESIGN.md §4 ("all target items seen in training"). Items seen only in held-out rows cannot be
recommended and are ignored when they appear in a history.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import torch

from crossrec.models.two_tower import PAD

EVAL_ROLES = ("cold_val", "cold_test", "warm_test")


@dataclass
class Vocabulary:
    item_ids: np.ndarray
    """Item id of each index; position 0 is padding."""
    domains: list[str]
    domain_ranges: list[tuple[int, int]]
    index: dict[str, int]

    @classmethod
    def from_items(cls, items: pl.DataFrame, domain_order: list[str]) -> Vocabulary:
        """Items grouped by domain (in ``domain_order``), sorted by id within a domain."""
        ids: list[str] = [""]
        ranges = []
        for d in domain_order:
            chunk = sorted(items.filter(pl.col("domain") == d)["item_id"].to_list())
            ranges.append((len(ids), len(ids) + len(chunk)))
            ids.extend(chunk)
        arr = np.array(ids, dtype=object)
        return cls(arr, list(domain_order), ranges, {i: n for n, i in enumerate(ids) if n})

    def to_frame(self) -> pl.DataFrame:
        dom = [""] * len(self.item_ids)
        for d, (a, b) in zip(self.domains, self.domain_ranges, strict=True):
            dom[a:b] = [d] * (b - a)
        return pl.DataFrame({"index": range(1, len(self.item_ids)),
                             "item_id": list(self.item_ids[1:]), "domain": dom[1:]})

    @classmethod
    def from_frame(cls, frame: pl.DataFrame, domain_order: list[str]) -> Vocabulary:
        return cls.from_items(frame.select("item_id", "domain"), domain_order)

    @property
    def n_items(self) -> int:
        return len(self.item_ids) - 1


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

    def history_tensor(self, users: np.ndarray, domains: tuple[str, ...], max_len: int,
                       which: str = "train") -> torch.Tensor:
        """Padded (n, len) history of the most recent ``max_len`` items per domain."""
        source = self.train_hist if which == "train" else self.all_hist
        rows = [np.concatenate([source[d][u][-max_len:] for d in domains]) for u in users]
        width = max(1, max((len(r) for r in rows), default=1))
        out = np.full((len(rows), width), PAD, dtype=np.int64)
        for i, r in enumerate(rows):
            out[i, : len(r)] = r
        return torch.from_numpy(out)


def _per_user(frame: pl.DataFrame, users: dict[str, int], n_users: int) -> list[np.ndarray]:
    out = [np.zeros(0, dtype=np.int64) for _ in range(n_users)]
    grouped = frame.sort("event_ts", "item_id").group_by("user_id", maintain_order=True).agg("idx")
    for uid, idx in grouped.iter_rows():
        out[users[uid]] = np.asarray(idx, dtype=np.int64)
    return out


def load_domain_data(mart_interactions: Path, mart_eval_split: Path, source: str,
                     target: str) -> DomainData:
    rows = pl.read_parquet(mart_interactions)
    split = pl.read_parquet(mart_eval_split).sort("user_id")
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
