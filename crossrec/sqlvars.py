"""How values and names reach DuckDB SQL text: values always bound, names always checked.

Values (dates, paths, seeds) are set as DuckDB variables (``SET VARIABLE name = ?`` with a bound
parameter, read in SQL with ``getvariable``) because DuckDB does not accept prepared parameters
inside ``CREATE TABLE AS`` with table functions. Identifiers cannot be bound at all, so only
names from this codebase, checked against a strict pattern, are ever quoted into SQL.
"""

from __future__ import annotations

import re

import duckdb

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


def quote_ident(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"invalid SQL identifier {name!r}")
    return f'"{name}"'


def set_variables(con: duckdb.DuckDBPyConnection, variables: dict[str, object]) -> None:
    for name, value in variables.items():
        statement = f"SET VARIABLE {quote_ident(name)} = ?"
        con.execute(statement, [value])  # the value is bound, never formatted
