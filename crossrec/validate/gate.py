"""Run the suites on the freshly built warehouse and stop the pipeline on any failure.

Great Expectations validates pandas frames here: it has no polars support and its SQL
datasource over duckdb-engine is unreliable, so each table is pulled with DuckDB's ``.df()``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import great_expectations as gx
import pandas as pd

from crossrec.config import Settings
from crossrec.errors import ValidationFailed
from crossrec.features import build as features_build
from crossrec.features.build import connect_warehouse, run_variables, sql_dir
from crossrec.features.contracts import load_contract
from crossrec.layout import Layout
from crossrec.sqlvars import quote_ident, set_variables
from crossrec.storage import write_text_atomic
from crossrec.validate.docs import write_data_docs
from crossrec.validate.suites import (
    build_suite,
    landing_suite,
    leak_suite,
    quarantine_suite,
    row_change_suite,
)

# GX prints tqdm bars for every metric: noise in Prefect logs
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
logging.getLogger("great_expectations").setLevel(logging.WARNING)

LEAK_SQL = """
SELECT m.user_id, m.item_id, s.user_split
FROM mart_interactions AS m
INNER JOIN mart_eval_split AS s USING (user_id)
WHERE m.role = 'train' AND m.domain = getvariable('target_domain') AND s.user_split <> 'train'
"""


_DATE_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class SuiteResult:
    suite: str
    rows: int
    success: bool
    failures: list[dict[str, Any]] = field(default_factory=list)
    """One entry per failed expectation: type, column, observed value, example rows, note."""
    raw: Any = field(default=None, repr=False, compare=False)
    """GX's ``ExpectationSuiteValidationResult`` (rendered into Data Docs; not serialised)."""

    def to_json(self) -> dict[str, Any]:
        return {"suite": self.suite, "rows": self.rows, "success": self.success,
                "failures": self.failures}


def ephemeral_context():
    """An in-memory GX context; it must exist before any suite is created."""
    context = gx.get_context(mode="ephemeral")
    try:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except Exception:  # a GX without the knob: the bars are only cosmetic
        pass
    return context


def _example(value: Any) -> str:
    if isinstance(value, dict):
        return "(" + ", ".join(f"{k}={v}" for k, v in value.items()) + ")"
    return str(value)


def run_suite(context, suite, frame: pd.DataFrame, origin: pd.Series | None = None
              ) -> SuiteResult:
    """Validate ``frame`` against ``suite``. ``origin`` (aligned with the frame's index) names
    where each row came from: a failure then lists the files of its offending rows."""
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
        exc = r.exception_info or {}
        failure = {
            "expectation": cfg.type,
            "column": cfg.kwargs.get("column") or cfg.kwargs.get("column_list"),
            "observed": detail.get("observed_value", detail.get("unexpected_count")),
            "examples": [_example(x) for x in (detail.get("partial_unexpected_list") or [])[:5]],
        }
        where = detail.get("partial_unexpected_index_list")
        if origin is not None and where:
            failure["files"] = sorted({str(origin.iloc[i]) for i in where
                                       if isinstance(i, int) and 0 <= i < len(origin)})
        if (cfg.meta or {}).get("note"):
            failure["note"] = cfg.meta["note"]
        if exc.get("raised_exception"):
            failure["note"] = str(exc.get("exception_message"))[:300]
        failures.append(failure)
    return SuiteResult(suite=suite.name, rows=len(frame), success=result.success,
                       failures=failures, raw=result)


def describe(results: list[SuiteResult]) -> str:
    lines = []
    for r in results:
        for f in r.failures:
            column = f["column"]
            if isinstance(column, list):
                column = "(" + ", ".join(column) + ")"
            where = f" column {column}" if column else ""
            ex = f" e.g. {', '.join(f['examples'])}" if f["examples"] else ""
            note = f" [{f['note']}]" if f.get("note") else ""
            files = f" in {', '.join(f['files'])}" if f.get("files") else ""
            lines.append(f"{r.suite}:{where} {f['expectation']} (observed {f['observed']}){ex}"
                         f"{files}{note}")
    return "; ".join(lines)


def reports_dir(settings: Settings) -> Path:
    return Layout(settings.data_dir).reports_root


def report_path(settings: Settings, run_date: date) -> Path:
    return Layout(settings.data_dir).validation_report(run_date)


def data_docs_dir(settings: Settings, run_date: date) -> Path:
    return Layout(settings.data_dir).data_docs(run_date)


def landing_files(settings: Settings, run_date: date) -> list[Path]:
    return Layout(settings.data_dir).landing_files(run_date)


def previous_row_count(settings: Settings, run_date: date) -> tuple[date, int] | None:
    """The newest earlier run whose ``validation.json`` recorded the landing row count."""
    root = reports_dir(settings)
    if not root.is_dir():
        return None
    dates = sorted((date.fromisoformat(p.name) for p in root.iterdir()
                    if _DATE_DIR.match(p.name) and (p / "validation.json").is_file()),
                   reverse=True)
    for d in dates:
        if d >= run_date:
            continue
        try:
            report = json.loads((root / d.isoformat() / "validation.json").read_text())
            rows = report["row_counts"]["landing"]
        except (ValueError, KeyError, TypeError):
            continue  # an older report format or a broken file: look further back
        if isinstance(rows, int):
            return d, rows
    return None


def collect_totals(settings: Settings, run_date: date) -> dict[str, int] | None:
    from crossrec.collect.collector import summary_path

    path = summary_path(settings, run_date)
    if not path.is_file():
        return None
    totals = json.loads(path.read_text()).get("totals") or {}
    return {"read": int(totals.get("read", 0)), "quarantined": int(totals.get("quarantined", 0))}


def domain_check(settings: Settings, run_date: date, con) -> SuiteResult:
    """Both configured domains have rows in the warehouse (any ingest date up to the run):
    else a clear failure naming each input file and the domains it does have (a name that
    differs between the config and the export, say ``sports`` for ``sport``)."""
    counts = dict(con.sql("SELECT domain, count(*) FROM stg_interactions GROUP BY domain"
                          ).fetchall())
    missing = [(role, d) for role, d in (("source", settings.domains.source),
                                         ("target", settings.domains.target)) if not counts.get(d)]
    failures = []
    if missing:
        from crossrec.collect.collector import summary_path

        path = summary_path(settings, run_date)
        sources = json.loads(path.read_text()).get("sources", {}) if path.is_file() else {}
        have = "; ".join(
            f"{file} has " + (", ".join(f"{d} ({n:,})" for d, n in sorted(
                (f.get("domains") or {}).items())) or "no rows")
            for s in sources.values() for file, f in s.get("files", {}).items())
        for role, d in missing:
            failures.append({"expectation": "configured_domain_has_rows", "column": "domain",
                             "observed": 0, "examples": [],
                             "note": f"no rows of the {role} domain '{d}'"
                                     + (f" ({have})" if have else "")})
    return SuiteResult(suite="check.domains", rows=sum(counts.values()), success=not missing,
                       failures=failures)


def _input_names(settings: Settings, run_date: date) -> dict[str, str]:
    """Landing file -> how a failure names it: the landing file and the input file(s) its
    rows were collected from (``collect.json``), so a user knows which export to fix."""
    from crossrec.collect.collector import summary_path

    path = summary_path(settings, run_date)
    sources = json.loads(path.read_text()).get("sources", {}) if path.is_file() else {}
    names = {}
    for f in landing_files(settings, run_date):
        inputs = list((sources.get(f.stem) or {}).get("files") or {})
        names[str(f)] = f"{f}" + (f" (from {', '.join(inputs)})" if inputs else "")
    return names


def contract_models(settings: Settings) -> list[str]:
    """Every model with a ``.yml`` contract: the build order first, then any other contract."""
    folder = sql_dir(settings)
    found = sorted(str(p.relative_to(folder).with_suffix("")) for p in folder.rglob("*.yml")
                   if p.with_suffix(".sql").is_file())
    ordered = list(features_build.MODELS)
    return ordered + [m for m in found if m not in ordered]


def validate_warehouse(settings: Settings, run_date: date, *,
                       max_row_change: float | None = None,
                       max_quarantined_share: float | None = None) -> Path:
    """Validate the run date's landing batch, every model with a contract, the leak check, the
    row-count change vs the previous run and the quarantined share; raise on any failure.

    Writes ``reports/<run_date>/validation.json`` and Data Docs under
    ``reports/<run_date>/validation/`` either way and returns the JSON's path.
    """
    if max_row_change is None:
        max_row_change = settings.validation.max_row_change
    if max_quarantined_share is None:
        max_quarantined_share = settings.validation.max_quarantined_share
    report = report_path(settings, run_date)
    report.unlink(missing_ok=True)  # a stale report must never describe this run
    variables = run_variables(settings, run_date)
    results: list[SuiteResult] = []
    notes: list[str] = []
    row_counts: dict[str, int] = {}
    context = ephemeral_context()
    built = set(features_build.MODELS)
    with connect_warehouse(settings, read_only=True) as con:
        files = landing_files(settings, run_date)
        if files:
            set_variables(con, {"validate_landing_files": [str(f) for f in files]})
            landing = con.sql("SELECT * FROM read_parquet(getvariable('validate_landing_files'), "
                              "union_by_name = true, filename = '_landing_file')").df()
            names = _input_names(settings, run_date)
            origin = landing.pop("_landing_file").map(lambda f: names.get(f, f))
        else:
            origin = None
            notes.append(f"no landing partition for {run_date}: the batch is empty")
            landing = pd.DataFrame({c: [] for c in ("user_id", "item_id", "domain", "event_ts")})
        row_counts["landing"] = len(landing)
        domains = [settings.domains.source, settings.domains.target]
        results.append(run_suite(context, landing_suite(domains, settings.validation.min_rows),
                                 landing, origin))
        previous = previous_row_count(settings, run_date)
        if previous is None:
            notes.append("row-count change: no earlier run recorded its row count; skipped")
        else:
            prev_date, prev_rows = previous
            results.append(run_suite(
                context, row_change_suite(prev_rows, prev_date.isoformat(), max_row_change),
                landing))
        del landing, origin
        tables = {r[0] for r in con.sql("SELECT table_name FROM duckdb_tables()").fetchall()}
        if "stg_interactions" in tables:
            results.append(domain_check(settings, run_date, con))
        for model in contract_models(settings):
            contract = load_contract(sql_dir(settings) / f"{model}.sql")
            if contract.model not in tables:
                if model in built:
                    results.append(SuiteResult(
                        suite=f"contract.{contract.model}", rows=0, success=False,
                        failures=[{"expectation": "table_exists", "column": None,
                                   "observed": "missing", "examples": []}]))
                else:
                    notes.append(f"{model}: has a contract but is not built; skipped")
                continue
            frame = con.sql("SELECT * FROM " + quote_ident(contract.model)).df()
            row_counts[contract.model] = len(frame)
            results.append(run_suite(context, build_suite(contract, variables), frame))
            del frame
        set_variables(con, variables)
        results.append(run_suite(context, leak_suite(), con.sql(LEAK_SQL).df()))
    totals = collect_totals(settings, run_date)
    if totals is None:
        notes.append(f"quarantined share: no collect.json for {run_date}; skipped")
    else:
        read, bad = totals["read"], totals["quarantined"]
        frame = pd.DataFrame({"read": [read], "quarantined": [bad],
                              "quarantined_share": [bad / read if read else 0.0]})
        results.append(run_suite(context, quarantine_suite(max_quarantined_share, read, bad),
                                 frame))
    failed = [r for r in results if not r.success]
    docs = write_data_docs(data_docs_dir(settings, run_date), run_date.isoformat(),
                           [r.to_json() for r in results],
                           {r.suite: r.raw for r in results if r.raw is not None}, notes)
    report.parent.mkdir(parents=True, exist_ok=True)
    # atomic: the next run reads these row counts as its baseline
    write_text_atomic(json.dumps({
        "run_date": run_date.isoformat(), "success": not failed, "row_counts": row_counts,
        "tolerances": {"max_row_change": max_row_change,
                       "max_quarantined_share": max_quarantined_share},
        "notes": notes, "data_docs": str(docs), "suites": [r.to_json() for r in results],
    }, indent=2, default=str), report)
    if failed:
        raise ValidationFailed(f"validation failed for run {run_date}: {describe(failed)} "
                               f"(Data Docs: {docs})")
    return report
