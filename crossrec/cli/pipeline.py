"""The pipeline commands: ``crossrec run`` (the nightly flow), ``ingest-clicks`` (one day of
click logs), ``backfill`` (a range of dates) and ``evaluate`` (the evaluation protocol)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from crossrec.cli.common import (
    ConfigOpt,
    DataDirOpt,
    RunDateOpt,
    checked_inputs,
    fail,
    parse_run_date,
)
from crossrec.errors import CrossrecError


def run(
    run_date: RunDateOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    full_refresh: Annotated[bool, typer.Option(
        "--full-refresh", help="Rebuild incremental SQL models from every landing partition."
    )] = False,
) -> None:
    """Run the nightly flow for one date and print where the outputs are."""
    day, settings = checked_inputs(run_date, config, data_dir)
    from flows.nightly import nightly

    try:
        outputs = nightly(run_date=day, settings=settings, full_refresh=full_refresh)
    except (CrossrecError, OSError) as exc:  # OSError: e.g. disk full, named file
        fail(exc, 1)
    typer.echo("")
    typer.echo(f"crossrec run {day} finished:")
    for name in ("landing", "recommendations", "report", "metrics", "warehouse", "model",
                 "gate"):
        typer.echo(f"  {name:<16} {outputs[name]}")


def ingest_clicks(
    event_date: Annotated[str | None, typer.Option("--date", help="Event date of the click "
                                                   "logs, YYYY-MM-DD (default: yesterday).")
                          ] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Ingest one day of click logs from the drop folder and print what was kept."""
    from datetime import timedelta

    day, settings = checked_inputs(event_date, config, data_dir)
    if event_date is None:
        day -= timedelta(days=1)
    from flows.ingest_clicks import ingest_clicks as flow

    try:
        out = flow(event_date=day, settings=settings)
    except (CrossrecError, OSError) as exc:  # OSError: e.g. disk full, named file
        fail(exc, 1)
    t = out["summary"]["totals"]
    typer.echo(f"click logs of {day}: read {t['read']}, kept {t['kept']} ({t['late']} late), "
               f"quarantined {t['quarantined']} {out['summary']['quarantined_by_reason']}")
    typer.echo(f"  report  {out['feedback']}")


def backfill(
    start: Annotated[str, typer.Option("--start", help="First date, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--end", help="Last date (inclusive), YYYY-MM-DD.")],
    force: Annotated[bool, typer.Option("--force", help="Rerun dates already published.")
                     ] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Run the nightly pipeline for every date from --start to --end, oldest first."""
    first, settings = checked_inputs(start, config, data_dir)
    try:
        last = parse_run_date(end)
        from crossrec.backfill import date_range

        date_range(first, last, date.today())  # refuse a bad range before any run starts
    except CrossrecError as exc:
        fail(exc, 2)
    from flows.backfill import backfill as flow

    try:
        out = flow(start=first, end=last, force=force, settings=settings)
    except (CrossrecError, OSError) as exc:  # OSError: e.g. disk full, named file
        fail(exc, 1)
    for day, outcome in out.items():
        typer.echo(f"  {day}  {outcome}")


def evaluate(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    run_date: RunDateOpt = None,
    ablations: Annotated[bool, typer.Option(
        "--ablations", help="Also retrain without adaptation, pretraining or fine-tuning."
    )] = False,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Also write the rows as JSON here.")] = None,
) -> None:
    """Run the evaluation protocol (our model, its parts and the baselines, on cold
    validation and test users) on the configured data and print the tables."""
    import json

    day, settings = checked_inputs(run_date, config, data_dir)
    from crossrec.evaluate.compare import compare, table

    try:
        rows = compare(settings, day, ablations=ablations)
    except CrossrecError as exc:
        fail(exc, 1)
    for role in ("cold_val", "cold_test"):
        typer.echo(f"\n{role} ({settings.domains.source} -> {settings.domains.target})")
        typer.echo(table(rows, role))
    if out is not None:
        out.write_text(json.dumps(rows, indent=2) + "\n")
        typer.echo(f"\nwrote {out}")
