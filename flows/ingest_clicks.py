"""Click-log ingestion for one event date: download (if configured) -> ingest -> feedback
metrics. The nightly flow runs it for the day before its run date, before training."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from crossrec.clicks.ingest import ingest_day
from crossrec.clicks.metrics import feedback_tables, write_feedback
from crossrec.collect.collector import cache_dir
from crossrec.collect.download import fetch
from crossrec.config import Settings, load_settings
from crossrec.layout import Layout
from crossrec.lock import exclusive


@task(name="download-clicks", task_run_name="download-{url}", retries=2,
      retry_delay_seconds=[5, 20], cache_policy=NO_CACHE)
def download_clicks_task(settings: Settings, url: str) -> Path:
    return fetch(url, cache_dir(settings), None, settings.collect.download_timeout_s)


@task(name="ingest-clicks", cache_policy=NO_CACHE)
def ingest_task(settings: Settings, event_date: date, downloads: list[Path],
                as_of: datetime | None) -> dict:
    summary = ingest_day(settings, event_date, downloads, now=as_of)
    t = summary["totals"]
    get_run_logger().info("click logs of %s: read %d, kept %d (%d late), quarantined %d %s; "
                          "%d file(s) skipped (already ingested, or not a click log)", event_date,
                          t["read"], t["kept"],
                          t["late"], t["quarantined"], summary["quarantined_by_reason"],
                          len(summary["skipped_files"]))
    if summary["files"]:
        create_table_artifact(key="crossrec-clicks", table=summary["files"],
                              description=f"Click logs of {event_date}: rows per file")
    return summary


@task(name="feedback-metrics", cache_policy=NO_CACHE)
def feedback_task(settings: Settings, event_date: date) -> dict:
    tables = feedback_tables(settings, event_date)
    report = write_feedback(tables, event_date, Layout(settings.data_dir).reports_root)
    for by, rows in tables.items():
        create_table_artifact(key=f"crossrec-feedback-by-{by.replace('_', '-')}", table=rows,
                              description=f"CTR and purchase rate of {event_date} by {by}")
    if tables:
        create_markdown_artifact(key="crossrec-feedback", markdown=report.read_text())
    return {"report": str(report), "tables": tables}


def _run_name() -> str:
    day = flow_run.parameters.get("event_date") or date.today() - timedelta(days=1)
    return f"ingest-clicks-{day}"


@flow(name="ingest-clicks", flow_run_name=_run_name)
def ingest_clicks(event_date: date | None = None, config_path: str | None = None,
                  data_dir: str | None = None, settings: Settings | None = None,
                  as_of: datetime | None = None) -> dict:
    """Ingest ``event_date``'s click logs into ``lake/clicks/`` and report CTR by model
    version, rank, domain and cold/warm user. ``as_of``: the clock future timestamps are
    judged by (default: now), e.g. to replay old or simulated logs. ``event_date`` defaults
    to yesterday (a scheduled run)."""
    event_date = event_date or date.today() - timedelta(days=1)
    if settings is None:
        settings = load_settings(Path(config_path) if config_path else None, data_dir=data_dir)
    urls = [u.replace("{event_date}", event_date.isoformat()) for u in settings.clicks.urls]
    with exclusive(settings.data_dir, "clicks", f"ingest-clicks {event_date}",
                   settings.run.lock_timeout_s):
        downloads = [download_clicks_task(settings, u) for u in urls]
        summary = ingest_task(settings, event_date, downloads, as_of)
        feedback = feedback_task(settings, event_date)
    return {"summary": summary, "feedback": feedback["report"]}
