import pandas as pd
import pytest

from crossrec.errors import ValidationFailed
from crossrec.features.build import build_features, default_sql_dir
from crossrec.features.contracts import load_contract
from crossrec.validate.gate import ephemeral_context, run_suite, validate_warehouse
from crossrec.validate.suites import build_suite
from tests.conftest import RUN_DATE

VARS = {"source_domain": "sport", "target_domain": "cloth", "min_rows": 2}


def suite_for(model):
    ctx = ephemeral_context()
    return ctx, build_suite(load_contract(default_sql_dir() / f"{model}.sql"), VARS)


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
