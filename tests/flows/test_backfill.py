"""Backfill: bad ranges are refused; a two-day range runs in order; a rerun skips both."""

import json
from datetime import timedelta

import pytest

from crossrec.backfill import date_range, plan
from crossrec.bundle.bundle import held_out
from crossrec.errors import ConfigError
from crossrec.registry import read_registry, versions
from tests.conftest import RUN_DATE, tiny_settings

DAY2 = RUN_DATE + timedelta(days=1)


def test_bad_ranges_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="start 2026-11-23 is after its end 2026-11-22"):
        date_range(DAY2, RUN_DATE, DAY2)
    with pytest.raises(ConfigError, match="is in the future"):
        date_range(RUN_DATE, DAY2 + timedelta(days=5), DAY2)
    assert date_range(RUN_DATE, DAY2, DAY2) == [RUN_DATE, DAY2]


def test_two_day_backfill_then_rerun_skips(tmp_path, prefect_harness):
    from flows.backfill import backfill

    settings = tiny_settings(tmp_path / "data")
    first = backfill(RUN_DATE, DAY2, settings=settings, today=DAY2)
    assert list(first) == [RUN_DATE.isoformat(), DAY2.isoformat()]
    assert all(v.startswith("published ") for v in first.values())
    root = settings.data_dir / "lake" / "recommendations"
    assert sorted(p.name for p in root.iterdir()) == ["run_date=2026-11-22",
                                                      "run_date=2026-11-23"]
    models = settings.data_dir / "models"
    # each date trained its own held-out version and the refit of it that ships, in order
    shipped = [v for v in versions(models) if held_out(models / v) != models / v]
    assert len(versions(models)) == 4 and [v[:8] for v in shipped] == ["20261122", "20261123"]
    assert read_registry(models).champions == shipped  # both passed
    again = backfill(RUN_DATE, DAY2, settings=settings, today=DAY2)
    assert set(again.values()) == {"skipped: already published"}
    days, skipped = plan(settings, RUN_DATE, DAY2, DAY2, force=True)
    assert days == [RUN_DATE, DAY2] and skipped == []


def test_a_date_the_gate_kept_out_is_skipped_unless_forced(tmp_path):
    settings = tiny_settings(tmp_path / "data")
    report = settings.data_dir / "reports" / RUN_DATE.isoformat() / "gate.json"
    report.parent.mkdir(parents=True)
    report.write_text(json.dumps({"accepted": False, "published_model": None}))
    assert plan(settings, RUN_DATE, DAY2, DAY2, force=False) == ([DAY2], [RUN_DATE])
    assert plan(settings, RUN_DATE, DAY2, DAY2, force=True) == ([RUN_DATE, DAY2], [])
    report.write_text(json.dumps({"accepted": True, "published_model": "v1"}))
    assert plan(settings, RUN_DATE, DAY2, DAY2, force=False) == ([RUN_DATE, DAY2], [])
