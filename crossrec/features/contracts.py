"""The ``.yml`` contract beside each SQL model: grain, keys and column tests.

Values written ``$name`` are filled from the run's variables (domains, thresholds) so one
contract serves every configuration. The validation gate builds its suites from these.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from crossrec.errors import ConfigError


class RangeTest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    min: float | None = None
    """Smallest allowed value (inclusive)."""
    max: float | None = None
    """Largest allowed value (inclusive)."""


class ColumnContract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    tests: list[str | dict[str, Any]] = Field(default_factory=list)
    """``not_null``, ``unique``, ``{accepted_values: [...]}``, ``{range: {min, max}}``."""


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    model: str
    """Table name; equals the SQL file's stem."""
    description: str
    """What one row means."""
    grain: list[str]
    """Columns that together identify a row (checked unique)."""
    min_rows: int | str | None = None
    """Fewest rows a healthy build has (a number or a ``$variable``)."""
    export: bool = False
    """Export the table as Parquet for the trainers."""
    materialization: Literal["table", "incremental"] = "table"
    """``table``: rebuilt whole (``CREATE OR REPLACE``) every run. ``incremental``: loaded one
    landing partition at a time, only new or changed ones (``crossrec.features.incremental``)."""
    partition_column: str | None = None
    """The column holding the partition key of an incremental model (e.g. ``ingest_date``)."""
    columns: dict[str, ColumnContract] = Field(default_factory=dict)
    """Column tests by column name."""


def resolve(value: Any, variables: dict[str, Any]) -> Any:
    """Replace ``$name`` strings (also inside lists and dicts) by the run's variables."""
    if isinstance(value, str) and value.startswith("$"):
        key = value[1:]
        if key not in variables:
            raise ConfigError(f"contract refers to unknown variable ${key}")
        return variables[key]
    if isinstance(value, list):
        return [resolve(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, variables) for k, v in value.items()}
    return value


def load_contract(sql_file: Path) -> Contract:
    path = sql_file.with_suffix(".yml")
    if not path.is_file():
        raise ConfigError(f"{sql_file}: missing contract {path.name} beside it")
    try:
        contract = Contract.model_validate(yaml.safe_load(path.read_text()))
    except Exception as exc:  # yaml or pydantic: both are a broken contract file
        raise ConfigError(f"{path}: invalid contract: {exc}") from None
    if (contract.materialization == "incremental") != (contract.partition_column is not None):
        raise ConfigError(f"{path}: 'partition_column' is required for (and only for) "
                          "materialization: incremental")
    if contract.model != sql_file.stem:
        raise ConfigError(f"{path}: model '{contract.model}' does not match file '{sql_file.stem}'")
    return contract
