"""Incremental models: tables kept up to date one landing partition at a time.

A model with ``materialization: incremental`` reads one ingest-date partition per statement
(``getvariable('partition_files')``). The warehouse remembers a fingerprint (file names, sizes,
modification times) of every partition it loaded, in ``_incremental_state``; a run then
deletes and re-inserts only the partitions that are new, changed (re-collected) or gone, all in
one transaction, so a crash leaves the previous state. ``full_refresh`` drops the table and
its state and loads every partition again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from crossrec.errors import InputDataError
from crossrec.sqlvars import quote_ident, set_variables

STATE = "_incremental_state"


@dataclass
class Refresh:
    """What one incremental run did."""

    loaded: list[date] = field(default_factory=list)
    deleted: list[date] = field(default_factory=list)
    unchanged: int = 0
    full_refresh: bool = False


def fingerprint(files: list[Path]) -> str:
    """Changes whenever a partition is re-collected (the swap writes new files)."""
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(f"{f.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables "
                            "WHERE table_name = ?", [table]).fetchall()[0][0])


def refresh(con: duckdb.DuckDBPyConnection, sql_file: Path, partitions: dict[date, list[Path]],
            partition_column: str, full_refresh: bool = False) -> Refresh:
    """Bring the model's table up to date with ``partitions``; returns what it did."""
    name = sql_file.stem
    # identifiers are checked by quote_ident; every value (model, partition, files) is bound
    table, column, state = quote_ident(name), quote_ident(partition_column), quote_ident(STATE)
    select = sql_file.read_text()
    result = Refresh(full_refresh=full_refresh)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"CREATE TABLE IF NOT EXISTS {state} (model VARCHAR, partition DATE, "
                    "fingerprint VARCHAR, loaded_at TIMESTAMPTZ DEFAULT now())")
        if full_refresh or not _exists(con, name):
            con.execute(f"DROP TABLE IF EXISTS {table}")
            con.execute(f"DELETE FROM {state} WHERE model = ?", [name])
            result.full_refresh = True
        recorded = dict(con.execute(f"SELECT partition, fingerprint FROM {state} "
                                    "WHERE model = ?", [name]).fetchall())
        current = {d: fingerprint(files) for d, files in partitions.items()}
        result.deleted = sorted(d for d in recorded if d not in current)
        result.loaded = sorted(d for d in current if recorded.get(d) != current[d])
        result.unchanged = len(current) - len(result.loaded)
        for d in sorted(set(result.deleted) | set(result.loaded)):
            if _exists(con, name):
                con.execute(f"DELETE FROM {table} WHERE {column} = ?", [d])
            con.execute(f"DELETE FROM {state} WHERE model = ? AND partition = ?", [name, d])
        for d in result.loaded:
            set_variables(con, {"partition_files": [str(f) for f in partitions[d]]})
            if _exists(con, name):
                con.execute(f"INSERT INTO {table} BY NAME\n{select}")
            else:
                con.execute(f"CREATE TABLE {table} AS\n{select}")
            con.execute(f"INSERT INTO {state} (model, partition, fingerprint) VALUES (?, ?, ?)",
                        [name, d, current[d]])
        if not _exists(con, name):
            raise InputDataError(f"{name}: no landing partition to load (collect first)")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return result
