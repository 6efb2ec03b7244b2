"""Evaluate a recommender on the held-out users of one role (cold_val, cold_test, warm_test)."""

from __future__ import annotations

import numpy as np

from crossrec.evaluate.metrics import METRICS, ranking_metrics
from crossrec.score.recommender import Recommender
from crossrec.score.topn import mask_seen_


def evaluate(rec: Recommender, role: str, block: int = 2048) -> dict[str, float]:
    """Mean of each metric over the role's users, plus ``users`` (how many were evaluated)."""
    data = rec.data
    start = data.vocab.domain_ranges[1][0]
    users = np.array(sorted(data.truth_sizes[role]), dtype=np.int64)
    sums = dict.fromkeys(METRICS, 0.0)
    empty = np.zeros(0, dtype=np.int64)
    for b in range(0, len(users), block):
        u = users[b:b + block]
        scores = mask_seen_(rec.score(u).float(), rec.seen_target(u))
        truth = [data.truth[role].get(int(x), empty) - start for x in u]
        sizes = np.array([data.truth_sizes[role][int(x)] for x in u])
        for name, values in ranking_metrics(scores, truth, sizes).items():
            sums[name] += float(values.sum())
    n = len(users)
    return {**{k: (v / n if n else float("nan")) for k, v in sums.items()}, "users": n}
