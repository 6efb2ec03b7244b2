"""Run the SQL models in one explicit order and export the marts the trainers read.

Every value that comes from configuration or the run reaches SQL as a DuckDB variable
(``crossrec.sqlvars``), never by string formatting. Table names come only from the fixed model
list below.

Models with ``materialization: table`` are rebuilt on each run (``CREATE OR REPLACE``); the one
incremental model loads only new or re-collected landing partitions
(``crossrec.features.incremental``). The warehouse is derived state, so a re-run for the same
date gives the same tables.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import duckdb

from crossrec.config import Settings
from crossrec.features.contracts import Contract, load_contract
from crossrec.features.incremental import Refresh, refresh
from crossrec.layout import Layout, landing_partitions
from crossrec.schemas import CLICKS, ITEMS
from crossrec.sqlvars import quote_ident, set_variables
from crossrec.storage import (
    swap_into_place,
    write_batches_atomic,
    write_parquet_atomic,
)

# DuckDB has no ref(): the dependency order is this list.
# int_item_stats reads the train rows of mart_interactions (so evaluation truth never reaches
# a popularity count), hence it comes after that mart. The trainers build users' histories
# from mart_interactions themselves (crossrec/data/domain.py).
MODELS: tuple[str, ...] = (
    "staging/stg_landed",
    "staging/stg_clicks",  # before stg_interactions: clicks and purchases are positives
    "staging/stg_interactions",
    "staging/stg_items",
    "intermediate/int_user_domains",
    "marts/mart_eval_split",
    "marts/mart_interactions",
    "marts/mart_weak_negatives",
    "intermediate/int_item_stats",
    "marts/mart_item_features",
)

EXPORT_BATCH = 256_000  # rows per batch streamed from DuckDB into a mart's Parquet export
# What a staging model reads when nothing has landed yet: read_parquet rejects an empty list,
# so the file list falls back to a zero-row file of the right schema (written on demand).
PLACEHOLDERS = {"items": ITEMS, "clicks": CLICKS}


def default_sql_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "sql"


def sql_dir(settings: Settings) -> Path:
    return settings.sql_dir or default_sql_dir()


def warehouse_path(settings: Settings) -> Path:
    return Layout(settings.data_dir).warehouse


def files_or_placeholder(settings: Settings, pattern: str, kind: str) -> list[str]:
    """Every file under the data folder matching ``pattern`` (all partitions; the models keep
    those up to the run date), or only the empty placeholder of ``kind`` when none exists."""
    found = sorted(settings.data_dir.glob(pattern))
    if found:
        return [str(f) for f in found]
    schema = PLACEHOLDERS[kind]
    empty = Layout(settings.data_dir).placeholder(kind)
    if not empty.exists():
        write_parquet_atomic(schema.empty_table(), empty)
    return [str(empty)]


def run_variables(settings: Settings, run_date: date) -> dict[str, object]:
    """Everything a model or contract may refer to (``getvariable`` / ``$name``)."""
    return {
        "run_date": run_date,
        "items_files": files_or_placeholder(settings, "landing/ingest_date=*/items/*.parquet",
                                            "items"),
        "clicks_files": files_or_placeholder(settings, "lake/clicks/event_date=*/*.parquet",
                                             "clicks"),
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


def connect_warehouse(settings: Settings, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """The warehouse with the configured memory limit, spill folder and threads."""
    f = settings.features
    spill = f.temp_directory or Layout(settings.data_dir).duckdb_spill
    config: dict[str, str | int] = {"memory_limit": f.memory_limit, "temp_directory": str(spill)}
    threads = f.threads or settings.run.threads
    if threads:
        config["threads"] = threads
    path = warehouse_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(str(path), read_only=read_only, config=config)


@dataclass(frozen=True)
class FeatureBuild:
    warehouse: Path
    exports: dict[str, Path]
    """Parquet export of each mart with ``export: true``, by model name."""
    row_counts: dict[str, int]
    incremental: dict[str, Refresh]
    """What each incremental model loaded, deleted or kept."""
    staged: Path | None = None
    """Where the exports wait until :func:`publish_marts` swaps them into ``marts/run_date=D``
    (None: already there). Nothing reads the staged files but the validation gate's caller."""


def build_features(settings: Settings, run_date: date, full_refresh: bool | None = None,
                   publish: bool = True) -> FeatureBuild:
    """Run every model for ``run_date``; incremental models load only new or changed landing
    partitions unless ``full_refresh`` (default: ``features.full_refresh``).

    With ``publish=False`` the exported marts stay staged (``FeatureBuild.staged``) until
    :func:`publish_marts`: the nightly flow publishes them only after the validation gate
    passed, so a failed batch never replaces the date's good marts (which scoring, the gate
    and ``models promote --publish`` read)."""
    if full_refresh is None:
        full_refresh = settings.features.full_refresh
    folder = sql_dir(settings)
    files = [folder / f"{m}.sql" for m in MODELS]
    contracts: dict[str, Contract] = {f.stem: load_contract(f) for f in files}
    counts: dict[str, int] = {}
    exports: dict[str, Path] = {}
    layout = Layout(settings.data_dir)
    export_dir = layout.marts_partition(run_date)
    # the exports are written beside the partition and swapped in whole, so the trainers
    # never read a mix of this build's marts and an earlier one's
    stage = layout.marts_staging(run_date)
    shutil.rmtree(stage, ignore_errors=True)  # left by a killed build of this date
    with connect_warehouse(settings) as con:
        set_variables(con, run_variables(settings, run_date))
        partitions = landing_partitions(Layout(settings.data_dir).landing)
        refreshed: dict[str, Refresh] = {}
        for f in files:
            contract = contracts[f.stem]
            if contract.materialization == "incremental":
                refreshed[f.stem] = refresh(con, f, partitions, contract.partition_column,
                                            full_refresh)
                counts[f.stem] = con.sql("SELECT count(*) FROM " + quote_ident(f.stem)
                                         ).fetchall()[0][0]
            else:
                counts[f.stem] = run_model(con, f)
        for name, contract in contracts.items():
            if contract.export:
                reader = con.sql("SELECT * FROM " + quote_ident(name)).fetch_record_batch(
                    EXPORT_BATCH)
                write_batches_atomic(reader, stage / f"{name}.parquet")
                exports[name] = export_dir / f"{name}.parquet"
    build = FeatureBuild(warehouse=warehouse_path(settings), exports=exports, row_counts=counts,
                         incremental=refreshed, staged=stage if exports else None)
    return publish_marts(build) if publish else build


def publish_marts(build: FeatureBuild) -> FeatureBuild:
    """Swap a build's staged marts into ``marts/run_date=D/`` whole (the previous export of
    that date goes); returns the build with nothing left staged."""
    if build.staged is None:
        return build
    final = next(iter(build.exports.values())).parent
    swap_into_place(build.staged, final)
    return replace(build, staged=None)
