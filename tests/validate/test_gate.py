import pandas as pd
import pytest

from crossrec.errors import ValidationFailed
from crossrec.features.build import build_features
from crossrec.features.contracts import Contract
from crossrec.validate.gate import ephemeral_context, run_suite, validate_warehouse
from crossrec.validate.suites import build_suite
from tests.conftest import RUN_DATE

VARS = {"source_domain": "sport", "target_domain": "cloth", "min_rows": 2}


# A fixed contract (not sql/*.yml, which evolves): the unit tests pin the suite builder only.
ITEM_STATS = Contract.model_validate({
    "model": "int_item_stats", "description": "one row per item", "grain": ["item_id"],
    "columns": {
        "item_id": {"tests": ["not_null", "unique"]},
        "domain": {"tests": ["not_null", {"accepted_values": ["$source_domain",
                                                              "$target_domain"]}]},
        "n_users": {"tests": ["not_null", {"range": {"min": 1}}]},
        "last_event_ts": {"tests": ["not_null"]},
        "popularity_rank": {"tests": ["not_null", {"range": {"min": 1}}]},
    },
})


def suite_for(model):
    assert model == "intermediate/int_item_stats"
    ctx = ephemeral_context()
    return ctx, build_suite(ITEM_STATS, VARS)


def test_clean_frame_passes():
    ctx, suite = suite_for("intermediate/int_item_stats")
    frame = pd.DataFrame({"item_id": ["cloth:1", "sport:1"], "domain": ["cloth", "sport"],
                          "n_users": [3, 1], "last_event_ts": pd.to_datetime(["2026-01-01"] * 2),
                          "popularity_rank": [1, 1]})
    assert run_suite(ctx, suite, frame).success


def test_bad_frame_fails_with_examples():
    ctx, suite = suite_for("intermediate/int_item_stats")
    frame = pd.DataFrame({"item_id": ["cloth:1", "cloth:1", None], "domain": ["cloth", "x", "y"],
                          "n_users": [3, 0, 1], "last_event_ts": pd.to_datetime(["2026-01-01"] * 3),
                          "popularity_rank": [1, 1, 2]})
    result = run_suite(ctx, suite, frame)
    assert not result.success
    failed = {(f["expectation"], str(f["column"])) for f in result.failures}
    assert ("expect_column_values_to_be_unique", "item_id") in failed
    assert ("expect_column_values_to_not_be_null", "item_id") in failed
    assert ("expect_column_values_to_be_in_set", "domain") in failed
    assert ("expect_column_values_to_be_between", "n_users") in failed
    in_set = next(f for f in result.failures if f["expectation"].endswith("in_set"))
    assert set(in_set["examples"]) == {"x", "y"}


def test_warehouse_gate_passes_then_fails_on_row_floor(settings):
    from crossrec.collect.collector import collect

    collect(settings, RUN_DATE)
    build_features(settings, RUN_DATE)
    report = validate_warehouse(settings, RUN_DATE)
    assert report.is_file()
    strict = settings.model_copy(update={"validation": settings.validation.model_copy(
        update={"min_rows": 10**9})})
    with pytest.raises(ValidationFailed, match="stg_interactions.*row_count"):
        validate_warehouse(strict, RUN_DATE)
