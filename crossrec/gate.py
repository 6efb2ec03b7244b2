"""The quality gate: tonight's model (the challenger) against the published one (the champion)
on the same cold validation users, before anything is published.

The challenger passes when its metric is at least the champion's minus the relative
``tolerance``, and it clears the absolute floors (a minimum score, and popularity's score
times ``1 + min_lift_over_popularity``). The inputs are the evaluate stage's rows, so the gate
judges exactly the numbers the report shows. Only validation users are used: the test users
stay untouched for the quality benchmark.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from crossrec.config import GateConfig

CHALLENGER, CHAMPION, POPULARITY = "crossrec", "champion", "popularity"
ROLE = "cold_val"


@dataclass(frozen=True)
class GateDecision:
    accepted: bool
    challenger: str
    """The challenger's model version."""
    champion: str | None
    """The champion's version when the gate ran (None: there was none)."""
    metric: str
    scores: dict[str, float]
    """The metric of the challenger, the champion and popularity (those evaluated)."""
    reasons: list[str] = field(default_factory=list)
    """Why it was rejected; empty when accepted."""
    ignored: list[str] = field(default_factory=list)
    """What would have rejected it with ``[gate] enabled = false``."""

    @property
    def summary(self) -> str:
        if not self.accepted:
            return "rejected: " + "; ".join(self.reasons)
        if self.ignored:
            return "accepted: gate disabled (would have rejected: " + "; ".join(
                self.ignored) + ")"
        if self.champion is None:
            return "accepted: first champion"
        if self.champion == self.challenger:
            return "accepted: same version as the champion"
        return (f"accepted: {self.metric} {self.scores[CHALLENGER]:.4f} vs champion "
                f"{self.scores[CHAMPION]:.4f}")

    def to_json(self) -> dict:
        return {**asdict(self), "summary": self.summary}


def _score(rows: list[dict], method: str, metric: str) -> float | None:
    for r in rows:
        if r["method"] == method and r["role"] == ROLE:
            return float(r[metric])
    return None


def decide(rows: list[dict], cfg: GateConfig, challenger: str,
           champion: str | None) -> GateDecision:
    """Judge the challenger from the evaluate stage's rows (method, role, metrics)."""
    m = cfg.metric
    ours = _score(rows, CHALLENGER, m)
    if ours is None:
        raise ValueError(f"no {CHALLENGER!r} row for role {ROLE!r} among the metrics")
    scores = {CHALLENGER: ours}
    reasons = []
    if math.isnan(ours):
        reasons.append(f"no cold validation users to judge {m} on")
    elif ours < cfg.min_score:
        reasons.append(f"{m} {ours:.4f} is below the floor {cfg.min_score:.4f}")
    popular = _score(rows, POPULARITY, m)
    if popular is not None:
        scores[POPULARITY] = popular
    if cfg.min_lift_over_popularity is not None and popular is not None and not math.isnan(ours):
        floor = popular * (1 + cfg.min_lift_over_popularity)
        if ours < floor:
            reasons.append(f"{m} {ours:.4f} is below popularity's {popular:.4f} "
                           f"x {1 + cfg.min_lift_over_popularity:g}")
    if champion is not None and champion != challenger:
        theirs = _score(rows, CHAMPION, m)
        if theirs is None:
            raise ValueError(f"the champion {champion} was not evaluated")
        scores[CHAMPION] = theirs
        if not math.isnan(ours) and ours < theirs * (1 - cfg.tolerance):
            drop = 1 - ours / theirs
            reasons.append(f"{m} {ours:.4f} is {drop:.1%} below champion {champion}'s "
                           f"{theirs:.4f} (tolerance {cfg.tolerance:.1%})")
    if not cfg.enabled:  # judged and reported all the same, but never blocking
        return GateDecision(True, challenger, champion, m, scores, [], reasons)
    return GateDecision(not reasons, challenger, champion, m, scores, reasons)


def markdown(decision: GateDecision, published: str | None) -> str:
    """The report's section on the gate."""
    lines = ["## Quality gate", "",
             f"Challenger `{decision.challenger}`, champion `{decision.champion or 'none'}`, "
             f"on the cold validation users' {decision.metric}: **{decision.summary}**.", "",
             "| model | " + decision.metric + " |", "|---|---|"]
    lines += [f"| {name} | {value:.4f} |" for name, value in decision.scores.items()]
    lines += ["", f"Published: `{published}`." if published else
              "Published: nothing for this date; the previous recommendations stay in place."]
    return "\n".join(lines) + "\n"
