"""``crossrec`` command line: ``crossrec run`` (the nightly flow), ``crossrec ingest-clicks``
(one day of click logs), ``crossrec backfill`` (a range of dates), ``crossrec evaluate``
(the evaluation protocol on any configured data) and ``crossrec models`` (the registry)."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from crossrec.cli_common import parse_run_date
from crossrec.cli_models import models_app
from crossrec.errors import CrossrecError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Cross-domain recommendation pipeline (Prefect flows).")
app.add_typer(models_app, name="models")



def _fail(exc: BaseException, code: int) -> None:
    typer.echo(f"crossrec: error: {exc}", err=True)
    raise typer.Exit(code)


def _checked_inputs(run_date: str | None, config: Path | None, data_dir: Path | None):
    """Date, settings and sources, checked before anything is written (exit 2 if wrong)."""
    from crossrec.collect.collector import check_sources
    from crossrec.config import load_settings

    try:
        day = parse_run_date(run_date)
        settings = load_settings(config, data_dir=data_dir)
        check_sources(settings)
    except CrossrecError as exc:
        _fail(exc, 2)
    return day, settings


@app.callback()
def _root() -> None:
    """Cross-domain recommendation pipeline."""


@app.command()
def run(
    run_date: Annotated[str | None, typer.Option("--date", help="Run date, YYYY-MM-DD "
                                                  "(default: today).")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="TOML config file.")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", envvar="CROSSREC_DATA_DIR",
                                                  help="Data folder (default ./data).")] = None,
    full_refresh: Annotated[bool, typer.Option(
        "--full-refresh", help="Rebuild incremental SQL models from every landing partition."
    )] = False,
) -> None:
    """Run the nightly flow for one date and print where the outputs are."""
    day, settings = _checked_inputs(run_date, config, data_dir)
    from flows.nightly import nightly

    try:
        outputs = nightly(run_date=day, settings=settings, full_refresh=full_refresh)
    except (CrossrecError, OSError) as exc:  # OSError: e.g. disk full, named file
        _fail(exc, 1)
    typer.echo("")
    typer.echo(f"crossrec run {day} finished:")
    for name in ("landing", "recommendations", "report", "metrics", "warehouse", "model",
                 "gate"):
        typer.echo(f"  {name:<16} {outputs[name]}")


@app.command("ingest-clicks")
def ingest_clicks(
    event_date: Annotated[str | None, typer.Option("--date", help="Event date of the click "
                                                   "logs, YYYY-MM-DD (default: yesterday).")
                          ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="TOML config file.")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", envvar="CROSSREC_DATA_DIR",
                                                  help="Data folder (default ./data).")] = None,
) -> None:
    """Ingest one day of click logs from the drop folder and print what was kept."""
    from datetime import timedelta

    day, settings = _checked_inputs(event_date, config, data_dir)
    if event_date is None:
        day -= timedelta(days=1)
    from flows.ingest_clicks import ingest_clicks as flow

    try:
        out = flow(event_date=day, settings=settings)
    except (CrossrecError, OSError) as exc:  # OSError: e.g. disk full, named file
        _fail(exc, 1)
    t = out["summary"]["totals"]
    typer.echo(f"click logs of {day}: read {t['read']}, kept {t['kept']} ({t['late']} late), "
               f"quarantined {t['quarantined']} {out['summary']['quarantined_by_reason']}")
    typer.echo(f"  report  {out['feedback']}")


@app.command()
def backfill(
    start: Annotated[str, typer.Option("--start", help="First date, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--end", help="Last date (inclusive), YYYY-MM-DD.")],
    force: Annotated[bool, typer.Option("--force", help="Rerun dates already published.")
                     ] = False,
    config: Annotated[Path | None, typer.Option("--config", help="TOML config file.")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", envvar="CROSSREC_DATA_DIR",
                                                  help="Data folder (default ./data).")] = None,
) -> None:
    """Run the nightly pipeline for every date from --start to --end, oldest first."""
    first, settings = _checked_inputs(start, config, data_dir)
    try:
        last = parse_run_date(end)
        from crossrec.backfill import date_range

        date_range(first, last, date.today())  # refuse a bad range before any run starts
    except CrossrecError as exc:
        _fail(exc, 2)
    from flows.backfill import backfill as flow

    try:
        out = flow(start=first, end=last, force=force, settings=settings)
    except (CrossrecError, OSError) as exc:  # OSError: e.g. disk full, named file
        _fail(exc, 1)
    for day, outcome in out.items():
        typer.echo(f"  {day}  {outcome}")


@app.command()
def serve(
    config: Annotated[Path | None, typer.Option("--config", help="TOML config file.")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", envvar="CROSSREC_DATA_DIR",
                                                  help="Data folder (default ./data).")] = None,
    deployments: Annotated[Path | None, typer.Option(
        "--deployments", help="Deployments file (default: deployments/prefect.yaml).")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Flow runs at once: they all write "
                                       "the data folder, so 1.")] = 1,
) -> None:
    """Serve the nightly, ingest-clicks and backfill deployments from this process, on the
    schedules of deployments/prefect.yaml, until stopped (schedules stay active)."""
    from crossrec.config import load_settings
    from crossrec.deploy import DEFAULT_FILE, load_deployments, runner_deployments
    from crossrec.server import check_server

    try:
        load_settings(config, data_dir=data_dir)  # a bad config fails now, not at 02:00
        specs = load_deployments(deployments or DEFAULT_FILE)
        url = check_server()
    except CrossrecError as exc:
        _fail(exc, 2)
    from prefect import serve as prefect_serve

    from flows.backfill import backfill as backfill_flow
    from flows.ingest_clicks import ingest_clicks as ingest_flow
    from flows.nightly import nightly

    overrides = {"config_path": str(config.resolve()) if config else None,
                 "data_dir": str(data_dir.resolve()) if data_dir else None}
    runners = runner_deployments(
        specs, {"nightly": nightly, "ingest-clicks": ingest_flow, "backfill": backfill_flow},
        overrides)
    typer.echo(f"serving {', '.join(s.name for s in specs)} against {url}")
    prefect_serve(*runners, pause_on_shutdown=False, limit=limit)


@app.command()
def status(
    config: Annotated[Path | None, typer.Option("--config", help="TOML config file.")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", envvar="CROSSREC_DATA_DIR",
                                                  help="Data folder (default ./data).")] = None,
    runs: Annotated[int, typer.Option("--runs", help="Flow runs to list.")] = 10,
) -> None:
    """The last flow runs and their states (Prefect API), the newest published partitions,
    model version and click partition (data folder). Exit 1 when the API is unreachable."""
    from crossrec.config import load_settings
    from crossrec.server import ServerUnavailable, check_server
    from crossrec.status import data_status, run_status

    try:
        settings = load_settings(config, data_dir=data_dir)
    except CrossrecError as exc:
        _fail(exc, 2)
    for line in data_status(settings):
        typer.echo(line)
    try:
        url = check_server()
    except ServerUnavailable as exc:
        _fail(exc, 1)
    for line in run_status(url, runs):
        typer.echo(line)


@app.command()
def evaluate(
    config: Annotated[Path | None, typer.Option("--config", help="TOML config file.")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", envvar="CROSSREC_DATA_DIR",
                                                  help="Data folder (default ./data).")] = None,
    run_date: Annotated[str | None, typer.Option("--date", help="Run date, YYYY-MM-DD "
                                                  "(default: today).")] = None,
    ablations: Annotated[bool, typer.Option(
        "--ablations", help="Also retrain without adaptation, pretraining or fine-tuning."
    )] = False,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Also write the rows as JSON here.")] = None,
) -> None:
    """Run the evaluation protocol (our model, its parts and the baselines, on cold
    validation and test users) on the configured data and print the tables."""
    import json

    day, settings = _checked_inputs(run_date, config, data_dir)
    from crossrec.evaluate.compare import compare, table

    try:
        rows = compare(settings, day, ablations=ablations)
    except CrossrecError as exc:
        _fail(exc, 1)
    for role in ("cold_val", "cold_test"):
        typer.echo(f"\n{role} ({settings.domains.source} -> {settings.domains.target})")
        typer.echo(table(rows, role))
    if out is not None:
        out.write_text(json.dumps(rows, indent=2) + "\n")
        typer.echo(f"\nwrote {out}")


def main() -> None:
    sys.exit(app())


if __name__ == "__main__":
    main()
