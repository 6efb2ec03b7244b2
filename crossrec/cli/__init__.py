"""``crossrec``: the command line, one module per command group (``pipeline``: run,
ingest-clicks, backfill, evaluate; ``service``: serve, status; ``models``: the registry by
hand), with what they share in ``common``. The groups never import each other."""

from __future__ import annotations

import sys

import typer

from crossrec.cli.models import models_app
from crossrec.cli.pipeline import backfill, evaluate, ingest_clicks, run
from crossrec.cli.service import serve, status

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Cross-domain recommendation pipeline (Prefect flows).")
app.add_typer(models_app, name="models")
app.command()(run)
app.command("ingest-clicks")(ingest_clicks)
app.command()(backfill)
app.command()(evaluate)
app.command()(serve)
app.command()(status)


@app.callback()
def _root() -> None:
    """Cross-domain recommendation pipeline."""


def main() -> None:
    sys.exit(app())
