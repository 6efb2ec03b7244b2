"""The gate inside the nightly flow: a good run publishes, a later bad batch stops the run
before anything under ``models/``, ``lake/`` or the date's ``marts/`` changes."""

from datetime import timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crossrec.errors import ValidationFailed
from crossrec.validate.gate import data_docs_dir, landing_files, validate_warehouse
from tests.conftest import RUN_DATE, tiny_settings


def snapshot(folder):
    return sorted((str(p.relative_to(folder)), p.stat().st_mtime_ns, p.stat().st_size,
                   p.read_bytes() if p.is_file() else b"")
                  for p in folder.rglob("*"))


def test_bad_batch_after_a_good_run_changes_no_model_or_lake(tmp_path, prefect_harness):
    from prefect import flow

    from flows.nightly import nightly, validated_marts

    @flow(name="nightly-gate-only")
    def gate_only(settings, run_date):
        """The nightly flow's own features -> validate -> publish-marts chain (the source
        cannot re-collect)."""
        return validated_marts(settings, run_date, False)

    settings = tiny_settings(tmp_path / "data")
    out = nightly(run_date=RUN_DATE, settings=settings)
    assert out["validation"].endswith("validation.json")
    assert (data_docs_dir(settings, RUN_DATE) / "index.html").is_file()
    models, lake = settings.data_dir / "models", settings.data_dir / "lake"
    marts = settings.data_dir / "marts"
    before = snapshot(models), snapshot(lake), snapshot(marts)
    assert before[0] and before[1] and before[2]

    # the next day's landing: a copy of today's batch with fresh users, plus rows of a domain
    # nobody configured and rows without a user
    day = RUN_DATE + timedelta(days=1)
    today = pa.concat_tables(pq.read_table(f) for f in landing_files(settings, RUN_DATE))
    fresh = today.set_column(0, "user_id", pa.array(
        [f"n-{u}" for u in today.column("user_id").to_pylist()]))
    bad = fresh.slice(0, 5)
    bad = bad.set_column(0, "user_id", pa.array([None] * 5, pa.string())).set_column(
        2, "domain", pa.array(["books"] * 5))
    folder = settings.data_dir / "landing" / f"ingest_date={day.isoformat()}" / "interactions"
    folder.mkdir(parents=True)
    pq.write_table(fresh, folder / "synthetic.parquet")
    pq.write_table(bad.cast(bad.schema.set(0, pa.field("user_id", pa.string()))),
                   folder / "bad.parquet")

    with pytest.raises(ValidationFailed, match="landing.interactions") as err:
        gate_only(settings, day)  # the flow's tasks: also publishes the artifacts
    message = str(err.value)
    assert "column domain expect_column_values_to_be_in_set" in message and "books" in message
    assert "column user_id expect_column_values_to_not_be_null" in message
    # the failure names the landing file the offending rows are in, not the good one
    assert "/bad.parquet" in message and "/synthetic.parquet" not in message
    assert "books" in (data_docs_dir(settings, day) / "index.html").read_text()
    with pytest.raises(ValidationFailed):
        validate_warehouse(settings, day)
    assert not (marts / f"run_date={day.isoformat()}").exists()  # a failed date has no marts

    # the same date again, now with the bad rows landed: its good marts stay as they were
    # (what scoring and `models promote --publish` read)
    (folder / "bad.parquet").rename(landing_files(settings, RUN_DATE)[0].parent / "bad.parquet")
    with pytest.raises(ValidationFailed, match="landing.interactions"):
        gate_only(settings, RUN_DATE)
    after = snapshot(models), snapshot(lake), snapshot(marts)
    assert after[:2] == before[:2]
    def published(snap):  # the failed build's staged exports wait under .staging, unread
        return [f for f in snap if not f[0].startswith(".staging")]

    assert published(after[2]) == published(before[2])
