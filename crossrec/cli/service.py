"""The service commands: ``crossrec serve`` (the deployments on their schedules) and
``crossrec status`` (flow runs and the newest outputs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crossrec.cli.common import ConfigOpt, DataDirOpt, fail, settings_or_exit
from crossrec.errors import CrossrecError


def serve(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    deployments: Annotated[Path | None, typer.Option(
        "--deployments", help="Deployments file (default: deployments/prefect.yaml).")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Flow runs at once: they all write "
                                       "the data folder, so 1.")] = 1,
) -> None:
    """Serve the nightly, ingest-clicks and backfill deployments from this process, on the
    schedules of deployments/prefect.yaml, until stopped (schedules stay active)."""
    from crossrec.deploy import DEFAULT_FILE, load_deployments, runner_deployments
    from crossrec.server import check_server

    settings_or_exit(config, data_dir)  # a bad config fails now, not at 02:00
    try:
        specs = load_deployments(deployments or DEFAULT_FILE)
        url = check_server()
    except CrossrecError as exc:
        fail(exc, 2)
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


def status(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    runs: Annotated[int, typer.Option("--runs", help="Flow runs to list.")] = 10,
) -> None:
    """The last flow runs and their states (Prefect API), the newest published partitions,
    model version and click partition (data folder). Exit 1 when the API is unreachable."""
    from crossrec.server import ServerUnavailable, check_server
    from crossrec.status import data_status, run_status

    settings = settings_or_exit(config, data_dir)
    for line in data_status(settings):
        typer.echo(line)
    try:
        url = check_server()
    except ServerUnavailable as exc:
        fail(exc, 1)
    for line in run_status(url, runs):
        typer.echo(line)
