"""Turn a model contract into a Great Expectations suite (contracts are written once, in .yml)."""

from __future__ import annotations

import math
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


LANDING_KEY = ("user_id", "item_id", "domain", "event_ts")
"""Columns that identify one landed interaction (checked non-null and unique together)."""


def landing_suite(domains: list[str], min_rows: int) -> gx.ExpectationSuite:
    """The run date's landing batch: keys present and non-null, only configured domains, no
    duplicate interaction, and at least ``min_rows`` rows.

    The collectors land only the configured pair (other domains are counted as filtered in
    ``collect.json``), so a row of another domain here means the landing zone was written by
    something else: defence in depth.
    """
    suite = gx.ExpectationSuite(name="landing.interactions")
    suite.add_expectation(gxe.ExpectTableRowCountToBeBetween(min_value=int(min_rows)))
    for column in LANDING_KEY:
        suite.add_expectation(gxe.ExpectColumnToExist(column=column))
        suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=column))
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="domain", value_set=list(domains)))
    suite.add_expectation(gxe.ExpectCompoundColumnsToBeUnique(column_list=list(LANDING_KEY)))
    return suite


def row_change_suite(previous_rows: int, previous_run: str, tolerance: float
                     ) -> gx.ExpectationSuite:
    """The landing batch's row count within ``tolerance`` (a share) of the previous run's."""
    suite = gx.ExpectationSuite(name="check.landing_row_change")
    low = math.ceil(previous_rows * (1 - tolerance))
    high = math.floor(previous_rows * (1 + tolerance))
    suite.add_expectation(gxe.ExpectTableRowCountToBeBetween(
        min_value=max(low, 0), max_value=high,
        meta={"note": f"previous run {previous_run} landed {previous_rows} rows; allowed change "
                      f"±{tolerance:.0%} ({max(low, 0)}..{high})"}))
    return suite


def quarantine_suite(tolerance: float, read: int, quarantined: int) -> gx.ExpectationSuite:
    """One-row frame of the collection totals: the quarantined share at most ``tolerance``."""
    suite = gx.ExpectationSuite(name="check.collect_quarantine")
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(
        column="quarantined_share", min_value=0.0, max_value=float(tolerance),
        meta={"note": f"{quarantined} of {read} rows read were quarantined; at most "
                      f"{tolerance:.1%} may be"}))
    return suite
