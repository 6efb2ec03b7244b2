"""What every command group of the CLI shares: the common options, the one-line error exit,
the date parser and settings loading. The groups import this module, never each other."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from crossrec.errors import CrossrecError

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML config file.")]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", envvar="CROSSREC_DATA_DIR",
                                                 help="Data folder (default ./data).")]
RunDateOpt = Annotated[str | None, typer.Option("--date", help="Run date, YYYY-MM-DD "
                                                "(default: today).")]

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def fail(exc: BaseException, code: int) -> NoReturn:
    """Print ``exc`` as one line on stderr and exit with ``code`` (2: bad input, 1: failed)."""
    typer.echo(f"crossrec: error: {exc}", err=True)
    raise typer.Exit(code)


def parse_run_date(value: str | None) -> date:
    if value is None:
        return date.today()
    try:
        if not _DATE.match(value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise CrossrecError(f"--date '{value}' is not a valid date (expected YYYY-MM-DD)") from None


def settings_or_exit(config: Path | None, data_dir: Path | None):
    """The settings, or exit 2 with the config problem in one line."""
    from crossrec.config import load_settings

    try:
        return load_settings(config, data_dir=data_dir)
    except CrossrecError as exc:
        fail(exc, 2)


def checked_inputs(run_date: str | None, config: Path | None, data_dir: Path | None):
    """Date, settings and sources, checked before anything is written (exit 2 if wrong)."""
    from crossrec.collect.collector import check_sources
    from crossrec.config import load_settings

    try:
        day = parse_run_date(run_date)
        settings = load_settings(config, data_dir=data_dir)
        check_sources(settings)
    except CrossrecError as exc:
        fail(exc, 2)
    return day, settings
