"""``crossrec models list|promote|rollback``: the model registry by hand.

Promotion and rollback change which version is the champion (the one the nightly gate compares
with, and publishes when it rejects a challenger with ``on_reject = "champion"``). With
``--publish DATE`` the date's recommendations are re-scored with the new champion right away
(from that date's marts), so a bad model's lists can be taken down without waiting a night.
"""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from crossrec.cli.common import ConfigOpt, DataDirOpt, fail, parse_run_date, settings_or_exit
from crossrec.errors import CrossrecError
from crossrec.layout import Layout

models_app = typer.Typer(no_args_is_help=True, help="List, promote and roll back model versions.")

PublishOpt = Annotated[str | None, typer.Option(
    "--publish", help="Also re-score and publish this date (YYYY-MM-DD) with the new champion.")]


@models_app.command("list")
def list_models(config: ConfigOpt = None, data_dir: DataDirOpt = None,
                check: Annotated[bool, typer.Option(
                    "--verify", help="Also check every version's checksums.")] = False) -> None:
    """Every finished model version, oldest first, with its status and validation score."""
    from crossrec.integrity import verify
    from crossrec.registry import read_registry, version_summary, versions

    settings = settings_or_exit(config, data_dir)
    models = Layout(settings.data_dir).models
    try:
        registry = read_registry(models)
    except CrossrecError as exc:
        fail(exc, 1)
    names = versions(models)
    if not names:
        typer.echo(f"no model versions in {models}")
        return
    typer.echo(f"{'version':<24} {'status':<16} {'val ndcg@10':>11}  last decision")
    corrupt = []
    infos = {name: version_summary(models, name) for name in names}
    refits = {i["selection_version"]: name for name, i in infos.items() if i["selection_version"]}
    for name in names:
        info = infos[name]
        score = info["val_ndcg@10"]
        last = next((d for d in reversed(registry.history)
                     if name in (d.version, d.retired)), None)
        note = f"{last.at:%Y-%m-%d %H:%M} {last.action}: {last.reason}" if last else ""
        if name in refits:  # judged in its refit's place, never published itself
            note = f"held out: selected {refits[name]}" + (f"; {note}" if note else "")
        elif info["selection_version"]:
            note = f"refit of {info['selection_version']}" + (f"; {note}" if note else "")
        if check:
            try:
                verify(models / name)
            except CrossrecError as exc:
                note = f"CORRUPT: {exc}"
                corrupt.append(f"{name} ({exc})")
        typer.echo(f"{name:<24} {registry.status(name):<16} "
                   f"{'' if score is None else f'{score:.4f}':>11}  {note}")
    if corrupt:
        fail(CrossrecError(f"{len(corrupt)} corrupt model version(s): {'; '.join(corrupt)}"), 1)


@models_app.command()
def promote(version: Annotated[str, typer.Argument(help="The model version to promote.")],
            config: ConfigOpt = None, data_dir: DataDirOpt = None,
            publish: PublishOpt = None) -> None:
    """Make VERSION the champion."""
    from crossrec.integrity import verify
    from crossrec.registry import promote as do_promote

    settings = settings_or_exit(config, data_dir)
    models = Layout(settings.data_dir).models
    try:
        verify(models / version) if (models / version).is_dir() else None
        registry = do_promote(models, version, f"manual: promoted by {getpass.getuser()}")
    except CrossrecError as exc:
        fail(exc, 1)
    typer.echo(f"champion: {registry.champion}")
    _republish(settings, publish, registry.champion)


@models_app.command()
def rollback(config: ConfigOpt = None, data_dir: DataDirOpt = None,
             publish: PublishOpt = None) -> None:
    """Retire the current champion and restore the previous one."""
    from crossrec.integrity import verify
    from crossrec.registry import read_registry
    from crossrec.registry import rollback as do_rollback

    settings = settings_or_exit(config, data_dir)
    models = Layout(settings.data_dir).models
    try:
        champions = read_registry(models).champions
        if len(champions) >= 2:  # never restore a version that no longer verifies
            verify(models / champions[-2])
        registry = do_rollback(models, f"manual: rolled back by {getpass.getuser()}")
    except CrossrecError as exc:
        fail(exc, 1)
    typer.echo(f"champion: {registry.champion} (retired {champions[-1]})")
    _republish(settings, publish, registry.champion)


def _republish(settings, day: str | None, version: str) -> None:
    if day is None:
        return
    from crossrec.data.marts import MartPaths

    layout = Layout(settings.data_dir)
    try:
        run_date = parse_run_date(day)
        marts = layout.marts_partition(run_date)
        if not (marts / "mart_interactions.parquet").is_file():
            raise CrossrecError(f"--publish {day}: no marts at {marts} (was that date run?)")
    except CrossrecError as exc:
        fail(exc, 2)
    from flows.nightly import score_and_publish

    final = score_and_publish(settings, MartPaths.from_dir(marts),
                              layout.model(version), run_date)
    typer.echo(f"published {final} with {version}")
