"""The quality gate: tonight's model (the challenger) against the published one (the champion)
on the same cold validation users, before anything is published.

The challenger passes when its metric is at least the champion's minus the relative
``tolerance``, and it clears the absolute floors (a minimum score, popularity's score
times ``1 + min_lift_over_popularity`` and, when set, the best baseline's score times
``min_ratio_to_best_baseline``). A floor set by another method rejects only a shortfall
larger than ``noise_margin`` standard errors of the two methods' user-by-user difference
(``paired_se`` in the evaluate stage's rows): chance alone moves the gap that much. The
inputs are the evaluate stage's rows, so the gate judges exactly the numbers the report
shows. Only validation users are used: the test users
stay untouched for the quality benchmark. :func:`settle` then records the verdict in the
model registry (see its rules for backfills, rollbacks and concurrent manual changes).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path

from crossrec.config import GateConfig
from crossrec.evaluate.methods import CHAMPION, GATE_ROLE, OURS, POPULARITY
from crossrec.layout import Layout
from crossrec.registry import ChampionChanged, promote, read_registry, reject, version_date
from crossrec.storage import write_text_atomic

CHALLENGER = OURS
ROLE = GATE_ROLE


@dataclass(frozen=True)
class GateDecision:
    accepted: bool
    challenger: str
    """The challenger's model version."""
    champion: str | None
    """The champion's version when the gate ran (None: there was none)."""
    metric: str
    scores: dict[str, float]
    """The metric of the challenger, the champion, popularity and, with a best-baseline floor,
    the best baseline (those evaluated)."""
    reasons: list[str] = field(default_factory=list)
    """Why it was rejected; empty when accepted."""
    ignored: list[str] = field(default_factory=list)
    """What would have rejected it with ``[gate] enabled = false``."""
    note: str | None = None
    """Why an accepted challenger was published without becoming the champion."""

    @property
    def summary(self) -> str:
        if not self.accepted:
            return "rejected: " + "; ".join(self.reasons)
        if self.ignored:
            text = "accepted: gate disabled (would have rejected: " + "; ".join(
                self.ignored) + ")"
        elif self.champion is None:
            text = "accepted: first champion"
        elif self.champion == self.challenger:
            text = "accepted: same version as the champion"
        else:
            text = (f"accepted: {self.metric} {self.scores[CHALLENGER]:.4f} vs champion "
                    f"{self.scores[CHAMPION]:.4f}")
        return f"{text}; {self.note}" if self.note else text

    def to_json(self) -> dict:
        return {**asdict(self), "summary": self.summary}


def _score(rows: list[dict], method: str, metric: str) -> float | None:
    for r in rows:
        if r["method"] == method and r["role"] == ROLE:
            return float(r[metric])
    return None


def _paired_se(rows: list[dict], method: str, metric: str) -> float:
    """Standard error of ours minus ``method`` on ``ROLE`` (0 where the rows carry none:
    metrics written before it was recorded)."""
    for r in rows:
        if r["method"] == method and r["role"] == ROLE:
            se = float(r.get("paired_se", {}).get(metric, 0.0))
            return 0.0 if math.isnan(se) else se
    return 0.0


def _below(ours: float, floor: float, se: float, margin: float) -> bool:
    return ours < floor - margin * se


def _noise(se: float, margin: float) -> str:
    return f" by more than {margin:g} x {se:.4f} (standard error of the difference)" if se else ""


def _best_baseline(rows: list[dict], metric: str) -> tuple[str, float] | None:
    """(method, value) of the highest baseline on ``ROLE``: every row that is neither one of
    ours (``crossrec*``) nor the champion's (NaN rows skipped; ties: the first listed). None
    when there is none."""
    best = None
    for r in rows:
        if r["role"] != ROLE or r["method"] == CHAMPION or r["method"].startswith(CHALLENGER):
            continue
        value = float(r[metric])
        if not math.isnan(value) and (best is None or value > best[1]):
            best = (r["method"], value)
    return best


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
        se = _paired_se(rows, POPULARITY, m)
        if _below(ours, floor, se, cfg.noise_margin):
            reasons.append(f"{m} {ours:.4f} is below popularity's {popular:.4f} "
                           f"x {1 + cfg.min_lift_over_popularity:g}"
                           + _noise(se, cfg.noise_margin))
    if cfg.min_ratio_to_best_baseline is not None and not math.isnan(ours):
        best = _best_baseline(rows, m)
        if best is not None:
            name, value = best
            scores[name] = value
            se = _paired_se(rows, name, m)
            if _below(ours, value * cfg.min_ratio_to_best_baseline, se, cfg.noise_margin):
                reasons.append(f"{m} {ours:.4f} is below the best baseline {name}'s "
                               f"{value:.4f} x {cfg.min_ratio_to_best_baseline:g}"
                               + _noise(se, cfg.noise_margin))
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


def write_gate_report(decision: GateDecision, published: str | None, out_dir: Path) -> str:
    """``gate.json`` and the gate's section appended to ``report.md`` in the run's report
    folder; returns the section."""
    section = markdown(decision, published)
    write_text_atomic(json.dumps({**decision.to_json(), "published_model": published},
                                 indent=2), out_dir / "gate.json")
    report = out_dir / "report.md"
    write_text_atomic(report.read_text() + "\n" + section, report)
    return section


def settle(decision: GateDecision, models: Path, run_date: date) -> GateDecision:
    """Turn the gate's verdict into a registry change. An accepted challenger becomes the
    champion unless it was rolled back by hand before, is older than the champion (a
    backfill of past dates publishes each date's model but never moves the champion back),
    or the champion changed while it was judged."""
    version, champ = decision.challenger, decision.champion
    if not decision.accepted:
        return decision
    if read_registry(models).status(version) == "rolled back":
        return replace(decision, accepted=False, reasons=[
            f"{version} was rolled back by hand; promote it by hand to use it again"])
    champ_date = version_date(champ) if champ else None
    if champ and champ != version and champ_date and run_date < champ_date:
        return replace(decision, note=f"not promoted: {run_date} is older than the "
                                      f"champion {champ}")
    try:
        promote(models, version, f"gate: {decision.summary}", run_date, expected=champ)
    except ChampionChanged as exc:
        return replace(decision, accepted=False, reasons=[str(exc)])
    return decision


def current_champion(layout: Layout) -> Path | None:
    """The champion's version folder, or None before the first one."""
    name = read_registry(layout.models).champion
    return layout.model(name) if name else None


@dataclass(frozen=True)
class GateOutcome:
    decision: GateDecision
    publish: Path | None
    """The version to publish tonight; None: nothing, yesterday's recommendations stay."""
    section: str
    """The report's markdown section on the gate."""


def run_gate(cfg: GateConfig, layout: Layout, metrics: Path, challenger: Path,
             champion: Path | None, run_date: date) -> GateOutcome:
    """The whole policy: judge tonight's model from the evaluate stage's ``metrics``,
    record the verdict in the registry, pick what to publish (on reject, ``on_reject``
    keeps yesterday's lists or re-scores with the champion) and write the gate's report."""
    rows = json.loads(metrics.read_text())["rows"]
    decision = settle(decide(rows, cfg, challenger.name, champion and champion.name),
                      layout.models, run_date)
    publish: Path | None = challenger
    if not decision.accepted:
        reject(layout.models, challenger.name, decision.summary, run_date)
        # the champion as it is now (a person may have changed it during evaluation)
        publish = current_champion(layout) if cfg.on_reject == "champion" else None
    section = write_gate_report(decision, publish.name if publish else None, metrics.parent)
    return GateOutcome(decision, publish, section)
