"""Run the suites on the freshly built warehouse and stop the pipeline on any failure.

Great Expectations validates pandas frames here: it has no polars support and its SQL
datasource over duckdb-engine is unreliable, so each table is pulled with DuckDB's ``.df()``.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import great_expectations as gx
import pandas as pd

from crossrec.config import Settings
from crossrec.errors import ValidationFailed
from crossrec.features.build import (
    MODELS,
    quote_ident,
    run_variables,
    set_variables,
    sql_dir,
    warehouse_path,
)
from crossrec.features.contracts import load_contract
from crossrec.validate.suites import build_suite, leak_suite

# GX prints tqdm bars for every metric: noise in Prefect logs
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
logging.getLogger("great_expectations").setLevel(logging.WARNING)

LEAK_SQL = """
SELECT m.user_id, m.item_id, s.user_split
FROM mart_interactions AS m
INNER JOIN mart_eval_split AS s USING (user_id)
WHERE m.role = 'train' AND m.domain = getvariable('target_domain') AND s.user_split <> 'train'
"""


@dataclass
class SuiteResult:
    suite: str
    rows: int
    success: bool
    failures: list[dict[str, Any]] = field(default_factory=list)
    """One entry per failed expectation: type, column, observed value, example rows."""


def ephemeral_context():
    """An in-memory GX context; it must exist before any suite is created."""
    context = gx.get_context(mode="ephemeral")
    try:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except Exception:  # a GX without the knob: the bars are only cosmetic
        pass
    return context


def run_suite(context, suite, frame: pd.DataFrame) -> SuiteResult:
    asset = context.data_sources.add_pandas(f"frames.{suite.name}").add_dataframe_asset(suite.name)
    batch = asset.add_batch_definition_whole_dataframe("whole").get_batch(
        batch_parameters={"dataframe": frame}
    )
    result = batch.validate(suite)
    failures = []
    for r in result.results:
        if r.success:
            continue
        cfg = r.expectation_config
        detail = r.result or {}
        failures.append(
            {
                "expectation": cfg.type,
                "column": cfg.kwargs.get("column") or cfg.kwargs.get("column_list"),
                "observed": detail.get("observed_value", detail.get("unexpected_count")),
                "examples": [str(x) for x in (detail.get("partial_unexpected_list") or [])[:5]],
            }
        )
    return SuiteResult(suite=suite.name, rows=len(frame), success=result.success, failures=failures)


def describe(results: list[SuiteResult]) -> str:
    lines = []
    for r in results:
        for f in r.failures:
            where = f" column {f['column']}" if f["column"] else ""
            ex = f" e.g. {', '.join(f['examples'])}" if f["examples"] else ""
            lines.append(f"{r.suite}:{where} {f['expectation']} (observed {f['observed']}){ex}")
    return "; ".join(lines)


def validate_warehouse(settings: Settings, run_date: date) -> Path:
    """Validate every model against its contract plus the leak check; raise on any failure.

    Writes ``reports/<run_date>/validation.json`` either way and returns its path.
    """
    variables = run_variables(settings, run_date)
    results: list[SuiteResult] = []
    context = ephemeral_context()
    with duckdb.connect(str(warehouse_path(settings)), read_only=True) as con:
        for model in MODELS:
            contract = load_contract(sql_dir(settings) / f"{model}.sql")
            frame = con.sql("SELECT * FROM " + quote_ident(contract.model)).df()
            results.append(run_suite(context, build_suite(contract, variables), frame))
        set_variables(con, variables)
        results.append(run_suite(context, leak_suite(), con.sql(LEAK_SQL).df()))
    report = settings.data_dir / "reports" / run_date.isoformat() / "validation.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps([r.__dict__ for r in results], indent=2, default=str))
    failed = [r for r in results if not r.success]
    if failed:
        raise ValidationFailed(f"validation failed for run {run_date}: {describe(failed)}")
    return report
