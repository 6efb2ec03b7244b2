"""Run the SQL models in one explicit order and export the marts the trainers read.

Every value that comes from configuration or the run reaches SQL as a DuckDB variable
(``crossrec.sqlvars``), never by string formatting. Table names come only from the fixed model
list below.

Every model is rebuilt on each run (``CREATE OR REPLACE``): the warehouse is derived state, so
a re-run for the same date gives the same tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from crossrec.config import Settings
from crossrec.features.contracts import Contract, load_contract
from crossrec.sqlvars import quote_ident, set_variables
from crossrec.storage import partition_dir, write_parquet_atomic

# DuckDB has no ref(): the dependency order is this list.
MODELS: tuple[str, ...] = (
    "staging/stg_interactions",
    "intermediate/int_user_domains",
    "intermediate/int_item_stats",
    "marts/mart_eval_split",
    "marts/mart_interactions",
)

def default_sql_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "sql"


def sql_dir(settings: Settings) -> Path:
    return settings.sql_dir or default_sql_dir()


def warehouse_path(settings: Settings) -> Path:
    return settings.data_dir / "warehouse.duckdb"


def run_variables(settings: Settings, run_date: date) -> dict[str, object]:
    """Everything a model or contract may refer to (``getvariable`` / ``$name``)."""
    return {
        "run_date": run_date,
        "landing_glob": str(
            settings.data_dir / "landing" / "ingest_date=*" / "interactions" / "*.parquet"),
        "source_domain": settings.domains.source,
        "target_domain": settings.domains.target,
        "split_seed": settings.split.seed,
        "cold_test_frac": settings.split.cold_test_frac,
        "cold_val_frac": settings.split.cold_val_frac,
        "min_rows": settings.validation.min_rows,
    }


def run_model(con: duckdb.DuckDBPyConnection, sql_file: Path) -> int:
    """Materialise one model as a table named after its file; returns its row count."""
    table = quote_ident(sql_file.stem)
    statement = f"CREATE OR REPLACE TABLE {table} AS\n{sql_file.read_text()}"
    try:
        con.execute(statement)
    except duckdb.Error as exc:
        raise RuntimeError(f"SQL model {sql_file} failed: {exc}") from exc
    return con.sql("SELECT count(*) FROM " + table).fetchall()[0][0]


@dataclass(frozen=True)
class FeatureBuild:
    warehouse: Path
    exports: dict[str, Path]
    """Parquet export of each mart with ``export: true``, by model name."""
    row_counts: dict[str, int]


def build_features(settings: Settings, run_date: date) -> FeatureBuild:
    folder = sql_dir(settings)
    files = [folder / f"{m}.sql" for m in MODELS]
    contracts: dict[str, Contract] = {f.stem: load_contract(f) for f in files}
    warehouse = warehouse_path(settings)
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    exports: dict[str, Path] = {}
    export_dir = partition_dir(settings.data_dir / "marts", "run_date", run_date)
    with duckdb.connect(str(warehouse)) as con:
        set_variables(con, run_variables(settings, run_date))
        for f in files:
            counts[f.stem] = run_model(con, f)
        for name, contract in contracts.items():
            if contract.export:
                table = con.sql("SELECT * FROM " + quote_ident(name)).to_arrow_table()
                exports[name] = write_parquet_atomic(table, export_dir / f"{name}.parquet")
    return FeatureBuild(warehouse=warehouse, exports=exports, row_counts=counts)
