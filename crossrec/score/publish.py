"""Score users into Parquet parts, check a staging partition, and swap it into the lake.

Layout: ``lake/recommendations/run_date=YYYY-MM-DD/domain=<target>/part-NNNNN.parquet``,
one part per user shard (shards are contiguous ranges of user indices, and user indices
follow sorted user ids, so the parts in name order are sorted by user then rank).
Staging lives outside the dataset root (``lake/.staging/``) so readers that glob the dataset
never see half-written partitions. Re-publishing a date replaces its partition: one, not two,
and the same inputs give byte-identical files.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from crossrec.ranking.explain import explanation_array
from crossrec.ranking.recommender import Recommender
from crossrec.schemas import RECOMMENDATIONS

ROW_GROUP = 128_000
"""Rows per Parquet row group (about 8 MB uncompressed): small enough that a reader looking
up a few users skips most groups by the user_id statistics, large enough to scan fast."""

PART = re.compile(r"part-\d{5}\.parquet")


def shard_ranges(n_users: int, shard_users: int) -> list[tuple[int, int]]:
    """Contiguous ``[start, stop)`` user ranges of at most ``shard_users`` (at least one)."""
    if shard_users < 1:
        raise ValueError(f"shard_users must be at least 1, got {shard_users}")
    return [(a, min(a + shard_users, n_users)) for a in range(0, n_users, shard_users)] or [
        (0, 0)]


def recommendation_table(rec: Recommender, k: int, model_version: str,
                         users: np.ndarray | None = None, explain_n: int = 0) -> pa.Table:
    """Top-k for ``users`` (default: every known user, including users with source history
    only), excluding every target item they already have; with ``explain_n`` each row lists
    up to that many source items that contributed most."""
    data = rec.data
    if users is None:
        users = np.arange(len(data.users))
    cols, scores = rec.recommend(users, k, exclude=True, which="all")
    start = data.vocab.domain_ranges[1][0]
    valid = cols >= 0
    user_idx = np.repeat(users, k).reshape(len(users), k)[valid]
    ranks = np.tile(np.arange(1, k + 1, dtype=np.int16), (len(users), 1))[valid]
    n = int(valid.sum())
    if explain_n:
        why = rec.explain(users, cols, explain_n)[valid]
        explanation = explanation_array(why, data.vocab.local_ids)
    else:
        explanation = pa.nulls(n, type=pa.list_(pa.string()))
    table = pa.table(
        {
            "user_id": pa.array(data.users[user_idx], type=pa.string()),
            "rank": pa.array(ranks, type=pa.int16()),
            # the user's own ids: the published list joins their catalogue as it is
            "item_id": pa.array(data.vocab.local_ids[cols[valid] + start], type=pa.string()),
            "score": pa.array(scores[valid], type=pa.float32()),
            "model_version": pa.array([model_version] * n, type=pa.string()),
            "explanation": explanation,
        },
        schema=RECOMMENDATIONS,
    )
    return table.sort_by([("user_id", "ascending"), ("rank", "ascending")])


def write_part(table: pa.Table, staging: Path, shard: int) -> Path:
    """Write one shard's part (atomically: a rerun of a shard replaces it whole)."""
    staging.mkdir(parents=True, exist_ok=True)
    path = staging / f"part-{shard:05d}.parquet"
    tmp = staging / f".part-{shard:05d}.tmp"
    try:
        pq.write_table(table, tmp, compression="zstd", row_group_size=ROW_GROUP)
    except BaseException:  # e.g. disk full: leave no half-written file behind
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)
    return path


def check_staging(staging: Path, seen: dict[str, set[str]], k: int,
                  users: set[str] | None = None, n_parts: int | None = None) -> int:
    """Invariants before publishing; returns the row count. ``seen``: user -> target items;
    ``users``: who must have rows (every scored user); ``n_parts``: parts expected."""
    parts = sorted(p for p in staging.iterdir() if PART.fullmatch(p.name))
    if n_parts is not None and len(parts) != n_parts:
        raise ValueError(f"{staging}: {len(parts)} parts, expected {n_parts}")
    table = pa.concat_tables([pq.read_table(p) for p in parts]) if parts else (
        RECOMMENDATIONS.empty_table())
    if table.schema != RECOMMENDATIONS:
        raise ValueError(f"{staging}: schema differs from RECOMMENDATIONS")
    pairs = pc.binary_join_element_wise(table["user_id"], pc.cast(table["rank"], pa.string()), "#")
    if pc.count_distinct(pairs).as_py() != table.num_rows:
        raise ValueError(f"{staging}: duplicate (user_id, rank)")
    if table.num_rows and pc.max(table["rank"]).as_py() > k:
        raise ValueError(f"{staging}: rank above top_n={k}")
    user_col, items = table["user_id"].to_pylist(), table["item_id"].to_pylist()
    bad = [(u, i) for u, i in zip(user_col, items, strict=True) if i in seen.get(u, ())]
    if bad:
        raise ValueError(f"{staging}: {len(bad)} recommended items the user already has, "
                         f"e.g. {bad[0]}")
    if users is not None:
        missing = users - set(user_col)
        if missing:
            raise ValueError(f"{staging}: {len(missing)} users have no recommendations, "
                             f"e.g. {sorted(missing)[0]!r}")
    u = np.asarray(user_col, dtype=object)
    if len(u) > 1 and np.any(u[1:] < u[:-1]):
        raise ValueError(f"{staging}: rows not sorted by user_id across parts")
    s = table["score"].to_numpy()
    r = table["rank"].to_numpy()
    same_user = u[1:] == u[:-1]
    if np.any(same_user & ((s[1:] > s[:-1]) | (r[1:] <= r[:-1]))):
        raise ValueError(f"{staging}: ranks or scores out of order within a user")
    return table.num_rows
