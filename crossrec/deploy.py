"""The deployments of ``deployments/prefect.yaml``, read and checked, for ``crossrec serve``.

The same file serves the work-pool route (``prefect deploy --all``); here only what ``serve``
needs is read: each deployment's name, schedules, parameters, description and tags. Which
flow a name runs is an explicit table in the caller, not an import by string.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError

from crossrec.errors import ConfigError
from crossrec.strict import StrictModel

DEFAULT_FILE = Path(__file__).resolve().parents[1] / "deployments" / "prefect.yaml"


class ScheduleSpec(StrictModel):
    cron: str
    """Standard five-field cron."""
    timezone: str
    """IANA name; explicit, so 02:00 means 02:00 local time across daylight saving changes."""


class DeploymentSpec(StrictModel):
    name: str
    """Deployment name (flow/deployment in the UI)."""
    entrypoint: str
    """``file.py:flow`` for the work-pool route."""
    description: str = ""
    """Shown in the UI."""
    tags: list[str] = Field(default_factory=list)
    """UI tags."""
    parameters: dict[str, Any] = Field(default_factory=dict)
    """Default flow parameters; the flow's own signature validates them."""
    schedules: list[ScheduleSpec] = Field(default_factory=list)
    """None: run only when triggered (the backfill)."""
    work_pool: dict[str, Any] | None = None
    """Work pool of the ``prefect deploy`` route; ``serve`` ignores it."""


def load_deployments(path: Path = DEFAULT_FILE) -> list[DeploymentSpec]:
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read deployments: {exc}") from None
    try:
        return [DeploymentSpec.model_validate(d) for d in raw.get("deployments", [])]
    except ValidationError as exc:
        raise ConfigError(f"{path}: invalid deployment: {exc}") from None


def runner_deployments(specs: list[DeploymentSpec], flows: dict[str, Any],
                       overrides: dict[str, Any] | None = None) -> list:
    """``flow.to_deployment`` for each spec; ``flows`` maps a deployment name to its flow.
    ``overrides`` replace default parameters (e.g. the config path ``crossrec serve`` got)."""
    from prefect.schedules import Cron

    missing = [s.name for s in specs if s.name not in flows]
    if missing:
        raise ConfigError(f"deployments without a flow in crossrec serve: {missing}")
    out = []
    for spec in specs:
        params = {k: v for k, v in {**spec.parameters, **(overrides or {})}.items()
                  if v is not None}
        out.append(flows[spec.name].to_deployment(
            name=spec.name, description=spec.description or None, tags=spec.tags,
            parameters=params,
            schedules=[Cron(s.cron, timezone=s.timezone) for s in spec.schedules] or None))
    return out
