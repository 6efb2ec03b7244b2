"""Scoring one user shard: the unit the flow maps over its task runner.

Each shard task loads the model version and the marts itself (a Dask worker process shares
nothing with the flow), once per process: the loaded recommender is cached by its inputs.
"""

from __future__ import annotations

import shutil
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from crossrec.bundle.bundle import Bundle
from crossrec.config import Settings
from crossrec.data.domain import load_domain_data
from crossrec.data.marts import MartPaths
from crossrec.layout import Layout
from crossrec.ranking.recommender import Recommender
from crossrec.score.publish import (
    check_staging,
    recommendation_table,
    shard_ranges,
    write_part,
)
from crossrec.storage import swap_into_place


@lru_cache(maxsize=2)
def _recommender(model_dir: Path, marts: MartPaths, source: str, target: str,
                 max_history: int, memory_mb: float) -> Recommender:
    # every row: a refit knows the held-out rows' items, and every user's whole history counts
    data = load_domain_data(marts.interactions, marts.eval_split, source, target,
                            every_row=True)
    rec = Bundle.load(model_dir, legacy_max_history=max_history).recommender(data, which="all")
    rec.memory_mb = memory_mb
    return rec


def recommender_for(settings: Settings, marts: MartPaths, model_dir: Path) -> Recommender:
    """The published model over every known user's full history, cached per process."""
    return _recommender(model_dir, marts, settings.domains.source, settings.domains.target,
                        settings.model.max_history, settings.score.memory_mb)


def plan_shards(settings: Settings, marts: MartPaths, model_dir: Path, run_date: date
                ) -> tuple[Path, list[tuple[int, int]]]:
    """The staging folder (emptied: parts of an earlier, crashed attempt must not mix in)
    and the user ranges to score. Users are the rows of the eval split (sorted by id)."""
    staging = Layout(settings.data_dir).recommendations_staging(
        run_date, settings.domains.target, model_dir.name)
    shutil.rmtree(staging, ignore_errors=True)
    n_users = pq.ParquetFile(marts.eval_split).metadata.num_rows
    return staging, shard_ranges(n_users, settings.score.shard_users)


def score_shard(settings: Settings, marts: MartPaths, model_dir: Path, staging: Path,
                shard: int, start: int, stop: int) -> int:
    """Score users ``[start, stop)`` into ``staging/part-<shard>.parquet``; returns rows."""
    rec = recommender_for(settings, marts, model_dir)
    if stop > len(rec.data.users):
        raise ValueError(f"shard {shard}: users {start}:{stop} but the marts hold "
                         f"{len(rec.data.users)}")
    table = recommendation_table(rec, settings.score.top_n, model_dir.name,
                                 np.arange(start, stop), settings.score.explain)
    write_part(table, staging, shard)
    return table.num_rows


def publish_staged(settings: Settings, marts: MartPaths, model_dir: Path, staging: Path,
                   run_date: date, n_parts: int) -> tuple[Path, int]:
    """Check the staged parts against the data the shards scored (every user present, no
    owned item, order) and swap them into the lake; returns the partition and its rows."""
    data = recommender_for(settings, marts, model_dir).data  # cached: the shards' own
    tgt = data.target
    seen = {data.users[u]: set(data.vocab.local_ids[h]) for u, h in
            enumerate(data.all_hist[tgt]) if len(h)}
    rows = check_staging(staging, seen, settings.score.top_n, set(data.users), n_parts)
    final = swap_into_place(staging, Layout(settings.data_dir).recommendations(run_date, tgt))
    return final, rows
