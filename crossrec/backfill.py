"""Which dates a backfill runs: a checked range, minus the dates already published (or whose
model the quality gate kept out)."""

from __future__ import annotations

import json
from datetime import date, timedelta

from crossrec.config import Settings
from crossrec.errors import ConfigError
from crossrec.layout import Layout


def date_range(start: date, end: date, today: date) -> list[date]:
    """Every date from ``start`` to ``end`` inclusive, in order; a reversed range or one that
    reaches past ``today`` is refused (there is nothing to collect for the future)."""
    if start > end:
        raise ConfigError(f"backfill start {start} is after its end {end}")
    if end > today:
        raise ConfigError(f"backfill end {end} is in the future (today is {today})")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def is_published(settings: Settings, day: date) -> bool:
    """A non-empty recommendations partition exists for ``day``."""
    folder = Layout(settings.data_dir).recommendations(day, settings.domains.target)
    return folder.is_dir() and any(folder.glob("part-*.parquet"))


def kept_out(settings: Settings, day: date) -> bool:
    """The quality gate rejected ``day``'s model and published nothing for it
    (``[gate] on_reject = "keep"``): retraining would give the same model and verdict."""
    gate = Layout(settings.data_dir).gate_report(day)
    try:
        return json.loads(gate.read_text()).get("published_model", "") is None
    except (OSError, ValueError):
        return False


def plan(settings: Settings, start: date, end: date, today: date, force: bool
         ) -> tuple[list[date], list[date]]:
    """(dates to run, dates skipped because they are published or the gate kept their
    model out); ``force`` runs them all."""
    days = date_range(start, end, today)
    if force:
        return days, []
    skipped = [d for d in days if is_published(settings, d) or kept_out(settings, d)]
    return [d for d in days if d not in skipped], skipped
