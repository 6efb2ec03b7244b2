"""Schedules are pure functions of training progress (passed in explicitly, never stored)."""

import math


def grl_lambda(progress: float, gamma: float = 10.0) -> float:
    """DANN's ramp: 0 at the start, -> 1 at the end (Ganin et al. 2016, eq. 14)."""
    p = min(max(progress, 0.0), 1.0)
    return 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0
