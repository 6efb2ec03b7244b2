"""Evaluate a recommender on the held-out users of one role (cold_val, cold_test, warm_test)."""

from __future__ import annotations

import numpy as np

from crossrec.metrics.ranking import METRICS, ranking_metrics
from crossrec.ranking.recommender import Recommender
from crossrec.ranking.topn import mask_seen_

ACTIVITY = ((0, 0), (1, 4), (5, 9), (10, 19), (20, None))
"""Buckets of a user's distinct source training items (inclusive; None: no upper bound)."""


def activity_label(low: int, high: int | None) -> str:
    return f"{low}+" if high is None else (f"{low}" if low == high else f"{low}-{high}")


def source_activity(rec: Recommender, users: np.ndarray) -> np.ndarray:
    """Distinct source training items per user (all a cold user is ranked from)."""
    hist = rec.data.train_hist[rec.data.source]
    return np.array([len(np.unique(hist[u])) for u in users], dtype=np.int64)


def evaluate(rec: Recommender, role: str, block: int = 2048,
             by_activity: bool = False, per_user: bool = False) -> dict:
    """Mean of each metric over the role's users, plus ``users`` (how many were evaluated).

    ``by_activity`` adds ``by_activity``: the same means per bucket of :data:`ACTIVITY`
    (label -> metrics and ``users``; empty buckets are left out), to see where a method wins.
    ``per_user`` adds ``per_user``: metric -> the values of each user (in user-index order),
    to compare two methods user by user.
    """
    data = rec.data
    start = data.vocab.domain_ranges[1][0]
    users = np.array(sorted(data.truth_sizes[role]), dtype=np.int64)
    sums = dict.fromkeys(METRICS, 0.0)
    bucket = np.full(len(users), -1)
    if by_activity:
        activity = source_activity(rec, users)
        for b, (low, high) in enumerate(ACTIVITY):
            bucket[(activity >= low) & (activity <= (high if high is not None else activity))] = b
    per_bucket = np.zeros((len(ACTIVITY), len(METRICS)))
    values_of: dict[str, list[np.ndarray]] = {name: [] for name in METRICS}
    empty = np.zeros(0, dtype=np.int64)
    for b in range(0, len(users), block):
        u = users[b:b + block]
        scores = mask_seen_(rec.score(u).float(), rec.seen_target(u))
        truth = [data.truth[role].get(int(x), empty) - start for x in u]
        sizes = np.array([data.truth_sizes[role][int(x)] for x in u])
        for name, values in ranking_metrics(scores, truth, sizes).items():
            sums[name] += float(values.sum())
            if per_user:
                values_of[name].append(values)
            if by_activity:
                np.add.at(per_bucket[:, METRICS.index(name)], bucket[b:b + block], values)
    n = len(users)
    out: dict = {**{k: (v / n if n else float("nan")) for k, v in sums.items()}, "users": n}
    if per_user:
        out["per_user"] = {k: (np.concatenate(v) if v else np.zeros(0))
                           for k, v in values_of.items()}
    if by_activity:
        counts = np.bincount(bucket, minlength=len(ACTIVITY))
        means = per_bucket / np.maximum(counts, 1)[:, None]
        out["by_activity"] = {
            activity_label(*ACTIVITY[b]): {**dict(zip(METRICS, means[b].tolist(), strict=True)),
                                           "users": int(counts[b])}
            for b in range(len(ACTIVITY)) if counts[b]}
    return out


def paired_se(ours: np.ndarray, theirs: np.ndarray) -> float:
    """Standard error of the mean of ``ours - theirs`` (per-user values of the same users);
    NaN with fewer than two users."""
    if len(ours) < 2:
        return float("nan")
    return float(np.std(ours - theirs, ddof=1) / np.sqrt(len(ours)))
