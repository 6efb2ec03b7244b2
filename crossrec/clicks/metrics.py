"""Click-through and purchase rates of served recommendations, from the ingested click logs.

Events are joined back to the list that was served (``rec_run_date``, user, item) so a rate
only counts what was actually shown; the served row supplies the rank and model version.
Rates are per impression: CTR = clicks / impressions, purchase rate = purchases /
impressions. A user is *cold* when the warehouse knows no target-domain item of theirs.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from crossrec.clicks.ingest import read_parts
from crossrec.config import Settings
from crossrec.layout import Layout
from crossrec.storage import write_text_atomic

GROUPS = ("model_version", "rank", "domain", "user_kind")


def served_events(settings: Settings, event_date: date) -> pl.DataFrame:
    """The day's events joined to the served rows they are about (unmatched ones dropped)."""
    folder = Layout(settings.data_dir).clicks(event_date)
    if not folder.is_dir():
        return pl.DataFrame()
    events = read_parts(folder)
    served = []
    for day in events["rec_run_date"].unique().to_list():
        part = Layout(settings.data_dir).recommendations(day, settings.domains.target)
        if part.is_dir():
            served.append(read_parts(part, ["user_id", "item_id", "rank", "model_version"])
                          .with_columns(pl.lit(day).alias("rec_run_date"),
                                        pl.lit(settings.domains.target).alias("domain")))
    if not served:
        return pl.DataFrame()
    recs = pl.concat(served).rename({"rank": "served_rank", "model_version": "served_model"})
    joined = events.join(recs, on=["rec_run_date", "user_id", "item_id"], how="inner")
    return joined.with_columns(_user_kind(settings, joined["user_id"].unique()))


def _user_kind(settings: Settings, users: pl.Series) -> pl.Expr:
    warehouse = Layout(settings.data_dir).warehouse
    if not warehouse.is_file():
        return pl.lit("unknown").alias("user_kind")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        warm = con.sql("SELECT user_id FROM int_user_domains WHERE n_target > 0 "
                       "AND user_id IN (SELECT unnest(?))", params=[users.to_list()]).pl()
    return (pl.when(pl.col("user_id").is_in(warm["user_id"].implode()))
            .then(pl.lit("warm")).otherwise(pl.lit("cold")).alias("user_kind"))


def rates(events: pl.DataFrame, by: str) -> pl.DataFrame:
    """impressions, clicks, purchases, ctr and purchase_rate per value of ``by``."""
    column = {"rank": "served_rank", "model_version": "served_model"}.get(by, by)
    counted = events.group_by(pl.col(column).alias(by)).agg(
        (pl.col("event_type") == t).sum().alias(f"{t}s") for t in
        ("impression", "click", "purchase"))
    return counted.with_columns(
        (pl.col("clicks") / pl.col("impressions")).alias("ctr"),
        (pl.col("purchases") / pl.col("impressions")).alias("purchase_rate"),
    ).sort(by)


def feedback_tables(settings: Settings, event_date: date) -> dict[str, list[dict]]:
    """Rates by model version, rank, domain and cold/warm user, as artifact-ready rows."""
    events = served_events(settings, event_date)
    if events.is_empty():
        return {}
    return {by: [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
                 for row in rates(events, by).iter_rows(named=True)] for by in GROUPS}


def feedback_markdown(tables: dict[str, list[dict]], event_date: date) -> str:
    if not tables:
        return f"# Feedback of {event_date}\n\nNo click events matched a served list.\n"
    out = [f"# Feedback of {event_date}", ""]
    for by, rows in tables.items():
        cols = list(rows[0])
        out += [f"## By {by.replace('_', ' ')}", "", "| " + " | ".join(cols) + " |",
                "|" + "---|" * len(cols)]
        out += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
        out.append("")
    return "\n".join(out)


def write_feedback(tables: dict[str, list[dict]], event_date: date, reports: Path) -> Path:
    path = reports / event_date.isoformat() / "feedback.md"
    return write_text_atomic(feedback_markdown(tables, event_date), path)
