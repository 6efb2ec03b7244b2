"""Grid search of a baseline's hyper-parameters on the cold validation users.

A practitioner tunes a baseline before comparing against it; so does the evaluation. Every grid
point is judged on the cold *validation* users only (``cold_val``: the role model selection may
look at); the cold test users stay untouched for the comparison itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from crossrec.metrics.protocol import evaluate
from crossrec.ranking.recommender import Recommender

ROLE = "cold_val"
"""The only role a baseline is tuned on."""


def grid(**values: Sequence) -> list[dict]:
    """Every combination of the named values, in order (the first is the simplest)."""
    names = list(values)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values.values())]


def label(point: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in point.items())


class TunedRecommender(Recommender):
    """A baseline whose hyper-parameters :meth:`tune` picks on ``cold_val``.

    Subclasses fit the statistics every grid point shares once, and :meth:`configure` switches
    between grid points cheaply.
    """

    chosen: dict
    """The hyper-parameters picked (and, where it matters, what they were fitted on)."""
    tried: dict[str, float]
    """The validation metric of each grid point (empty when the grid had one point)."""

    def configure(self, **params) -> None:
        raise NotImplementedError

    def tune(self, points: list[dict], metric: str = "ndcg@10") -> dict:
        """Configure the grid point with the best ``metric`` on ``cold_val``; ties (and NaN, a
        split without validation users) keep the earlier point. A single point is not
        evaluated."""
        if not points:
            raise ValueError("an empty grid has nothing to choose from")
        best, tried = points[0], {}
        if len(points) > 1:
            top = None
            for point in points:
                self.configure(**point)
                value = evaluate(self, ROLE)[metric]
                tried[label(point)] = value
                if top is None or value > top:  # strict: a tie keeps the simpler point
                    best, top = point, value
        self.configure(**best)
        self.chosen, self.tried = dict(best), tried
        return self.chosen
