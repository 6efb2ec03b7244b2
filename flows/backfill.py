"""Backfill: the nightly pipeline for each date of a range, oldest first.

Click ingestion is per date, so the range's click logs are ingested first, one mapped task per
date (they take turns on the click lake's lock, which guards its manifest). Training is not
per date: each date trains on everything up to it, so the nightly runs go in order, each
holding the warehouse lock. Scoring is per date and needs no lock (it reads that date's marts
and model version and writes that date's partition), so each date is scored in a task of
its own while the next date trains. Dates already published are skipped unless ``force``."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from prefect import flow, get_run_logger, task, unmapped
from prefect.cache_policies import NO_CACHE

from crossrec.backfill import is_published, plan
from crossrec.config import Settings, load_settings
from crossrec.data.marts import MartPaths
from flows.ingest_clicks import ingest_clicks
from flows.nightly import nightly, score_and_publish


@task(name="ingest-clicks-for", task_run_name="ingest-clicks-{day}", cache_policy=NO_CACHE)
def ingest_for_task(settings: Settings, day: date) -> dict:
    return ingest_clicks(day, settings=settings)["summary"]["totals"]


@task(name="score-date", task_run_name="score-{day}", cache_policy=NO_CACHE)
def score_day_task(settings: Settings, marts_dir: Path, model_dir: Path, day: date) -> Path:
    return score_and_publish(settings, MartPaths.from_dir(marts_dir), model_dir, day)


@flow(name="backfill", flow_run_name="backfill-{start}-{end}")
def backfill(start: date, end: date, force: bool = False, config_path: str | None = None,
             data_dir: str | None = None, settings: Settings | None = None,
             today: date | None = None) -> dict[str, str]:
    """Run every date from ``start`` to ``end`` (inclusive); returns date -> outcome
    (``published <path>`` or ``skipped: already published``)."""
    if settings is None:
        settings = load_settings(Path(config_path) if config_path else None, data_dir=data_dir)
    days, skipped = plan(settings, start, end, today or date.today(), force)
    log = get_run_logger()
    log.info("backfill %s..%s: %d date(s) to run, %d already published%s", start, end,
             len(days), len(skipped), " (use force to rerun them)" if skipped else "")
    if settings.clicks.ingest_yesterday and days:
        clicks = ingest_for_task.map(unmapped(settings),
                                     [d - timedelta(days=1) for d in days])
        for f in clicks:
            f.result()  # raises the first failure
    out = {d.isoformat(): "skipped: already published" if is_published(settings, d) else
           "skipped: the gate kept its model out" for d in skipped}
    scoring = []
    for d in days:  # training in order; each date's scoring overlaps the next date's training
        trained = nightly(run_date=d, settings=settings, score=False,
                          ingest_clicks=False)  # the range's clicks were ingested above
        if trained["published_model"] is None:  # the quality gate kept the champion's lists
            out[d.isoformat()] = f"not published: gate {trained['gate']}"
            continue
        scoring.append((d, score_day_task.submit(settings, Path(trained["marts"]),
                                                 Path(trained["published_model"]), d)))
    for d, future in scoring:
        out[d.isoformat()] = f"published {future.result()}"
    return dict(sorted(out.items()))
