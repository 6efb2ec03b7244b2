"""Score every user, write a staging partition, check it, and swap it into the lake.

Layout: ``lake/recommendations/run_date=YYYY-MM-DD/domain=<target>/part-00000.parquet``.
Staging lives outside the dataset root (``lake/.staging/``) so readers that glob the dataset
never see half-written partitions. Re-publishing a date replaces its partition: one, not two.
"""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from crossrec.schemas import RECOMMENDATIONS
from crossrec.score.recommender import Recommender
from crossrec.storage import partition_dir

ROW_GROUP = 128_000


def recommendation_table(rec: Recommender, k: int, model_version: str) -> pa.Table:
    """Top-k for every known user, excluding every target item they already have."""
    data = rec.data
    users = np.arange(len(data.users))
    cols, scores = rec.recommend(users, k, exclude=True, which="all")
    start = data.vocab.domain_ranges[1][0]
    valid = cols >= 0
    user_idx = np.repeat(users, k).reshape(len(users), k)[valid]
    ranks = np.tile(np.arange(1, k + 1, dtype=np.int16), (len(users), 1))[valid]
    n = int(valid.sum())
    table = pa.table(
        {
            "user_id": pa.array(data.users[user_idx], type=pa.string()),
            "rank": pa.array(ranks, type=pa.int16()),
            "item_id": pa.array(data.vocab.item_ids[cols[valid] + start], type=pa.string()),
            "score": pa.array(scores[valid], type=pa.float32()),
            "model_version": pa.array([model_version] * n, type=pa.string()),
            "explanation": pa.nulls(n, type=pa.list_(pa.string())),
        },
        schema=RECOMMENDATIONS,
    )
    return table.sort_by([("user_id", "ascending"), ("rank", "ascending")])


def lake_partition(data_dir: Path, run_date: date, domain: str) -> Path:
    if not domain.replace("_", "").isalnum():
        raise ValueError(f"invalid domain partition value {domain!r}")
    return partition_dir(data_dir / "lake" / "recommendations", "run_date", run_date) / (
        f"domain={domain}")


def write_staging(table: pa.Table, data_dir: Path) -> Path:
    staging = data_dir / "lake" / ".staging" / uuid.uuid4().hex
    staging.mkdir(parents=True)
    pq.write_table(table, staging / "part-00000.parquet", compression="zstd",
                   row_group_size=ROW_GROUP)
    return staging


def check_staging(staging: Path, seen: dict[str, set[str]], k: int) -> int:
    """Invariants before publishing; returns the row count. ``seen``: user -> target items."""
    table = pq.read_table(staging)
    if table.schema != RECOMMENDATIONS:
        raise ValueError(f"{staging}: schema differs from RECOMMENDATIONS")
    pairs = pc.binary_join_element_wise(table["user_id"], pc.cast(table["rank"], pa.string()), "#")
    if pc.count_distinct(pairs).as_py() != table.num_rows:
        raise ValueError(f"{staging}: duplicate (user_id, rank)")
    if pc.max(table["rank"]).as_py() > k:
        raise ValueError(f"{staging}: rank above top_n={k}")
    users, items = table["user_id"].to_pylist(), table["item_id"].to_pylist()
    bad = [(u, i) for u, i in zip(users, items, strict=True) if i in seen.get(u, ())]
    if bad:
        raise ValueError(f"{staging}: {len(bad)} recommended items the user already has, "
                         f"e.g. {bad[0]}")
    s = table["score"].to_numpy()
    same_user = np.asarray(users[1:], dtype=object) == np.asarray(users[:-1], dtype=object)
    if np.any(same_user & (s[1:] > s[:-1])):
        raise ValueError(f"{staging}: scores not descending by rank within a user")
    return table.num_rows
