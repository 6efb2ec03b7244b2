"""Turn a model contract into a Great Expectations suite (contracts are written once, in .yml)."""

from __future__ import annotations

from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe

from crossrec.errors import ConfigError
from crossrec.features.contracts import Contract, resolve


def _column_expectations(column: str, test: str | dict[str, Any]) -> list[gxe.Expectation]:
    if test == "not_null":
        return [gxe.ExpectColumnValuesToNotBeNull(column=column)]
    if test == "unique":
        return [gxe.ExpectColumnValuesToBeUnique(column=column)]
    if isinstance(test, dict) and len(test) == 1:
        (kind, arg), = test.items()
        if kind == "accepted_values":
            return [gxe.ExpectColumnValuesToBeInSet(column=column, value_set=list(arg))]
        if kind == "range":
            return [
                gxe.ExpectColumnValuesToBeBetween(
                    column=column, min_value=arg.get("min"), max_value=arg.get("max")
                )
            ]
    raise ConfigError(f"unknown column test {test!r} on column '{column}'")


def build_suite(contract: Contract, variables: dict[str, Any]) -> gx.ExpectationSuite:
    """Suite for one model: grain uniqueness, row-count floor, and every column test."""
    suite = gx.ExpectationSuite(name=f"contract.{contract.model}")
    if len(contract.grain) == 1:
        suite.add_expectation(gxe.ExpectColumnValuesToBeUnique(column=contract.grain[0]))
    else:
        suite.add_expectation(gxe.ExpectCompoundColumnsToBeUnique(column_list=contract.grain))
    if contract.min_rows is not None:
        suite.add_expectation(
            gxe.ExpectTableRowCountToBeBetween(min_value=int(resolve(contract.min_rows, variables)))
        )
    for column, spec in contract.columns.items():
        suite.add_expectation(gxe.ExpectColumnToExist(column=column))
        for test in spec.tests:
            for exp in _column_expectations(column, resolve(test, variables)):
                suite.add_expectation(exp)
    return suite


def leak_suite() -> gx.ExpectationSuite:
    """No cold user may have a target row that training sees."""
    suite = gx.ExpectationSuite(name="check.cold_user_leak")
    suite.add_expectation(gxe.ExpectTableRowCountToEqual(value=0))
    return suite
