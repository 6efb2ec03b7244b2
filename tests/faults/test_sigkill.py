"""Fault injection: SIGKILL the nightly flow at each kind of write, then run it again; the
data folder must equal a clean run's (same partitions, rows and recommendations, no
duplicates), with nothing half-written where a reader looks and no staging left behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from crossrec.clicks.ingest import click_paths, ingest_day
from crossrec.collect.clicksim import ClickSimConfig, simulate, write_jsonl
from crossrec.collect.synthetic import SyntheticWorld
from tests.conftest import RUN_DATE, tiny_settings
from tests.faults.child import AS_OF

ROOT = Path(__file__).resolve().parents[2]
POINTS = ["collect", "features", "export", "checkpoint", "score", "publish"]
FAULTS: list[str] = []  # what was injected, for the summary line


def _rows(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows


def snapshot(data: Path) -> dict:
    """Everything a reader or the next run can see, reduced to comparable values."""
    out: dict = {}
    for root in ("landing", "quarantine", "marts", "lake/recommendations", "lake/clicks"):
        base = data / root
        for f in sorted(base.rglob("*.parquet")) if base.is_dir() else []:
            rel = f.relative_to(data)
            if not any(p.startswith(".") for p in rel.parts):
                out[str(rel)] = _rows(f)
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        tables = [t for (t,) in con.execute(
            "SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()]
        for t in tables:
            out[f"warehouse.{t}"] = con.execute(
                "SELECT count(*) FROM query_table(?)", [t]).fetchall()[0][0]
    recs = data / "lake" / "recommendations"
    if recs.is_dir():
        with duckdb.connect() as con:
            rows = con.execute(
                "SELECT run_date, user_id, rank, item_id, model_version FROM read_parquet(?, "
                "hive_partitioning = true) ORDER BY ALL", [str(recs / "**" / "*.parquet")]
            ).fetchall()
        out["recommendations"] = rows
        assert len({r[:3] for r in rows}) == len(rows), "duplicate (date, user, rank) rows"
    models = data / "models"
    out["models"] = sorted(p.name for p in models.iterdir() if not p.name.startswith("."))
    return out


def leftovers(data: Path) -> list[str]:
    """Half-written files or staging folders: none may survive a successful re-run."""
    bad = []
    for p in data.rglob("*"):
        rel = p.relative_to(data)
        if rel.parts[0] in ("tmp", ".locks"):
            continue
        name = p.name
        if ".tmp" in name or name.startswith(".staging-") or (
                ".staging" in rel.parts[:-1] and p.is_file()) or name.startswith("previous-"):
            bad.append(str(rel))
    return bad


def _env() -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    env = dict(os.environ, PYTHONPATH=str(ROOT), PREFECT_API_URL=PREFECT_API_URL.value())
    return env


def kill_at(point: str, settings, tmp: Path) -> None:
    """Start the child, wait until it reaches ``point``, SIGKILL it."""
    cfg, marker = tmp / f"{point}-settings.json", tmp / f"{point}.reached"
    cfg.write_text(settings.model_dump_json())
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.faults.child", str(cfg), RUN_DATE.isoformat(), point,
         str(marker)], cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while not marker.exists():
        if child.poll() is not None:
            out = child.stdout.read().decode(errors="replace")[-3000:]
            pytest.fail(f"child ended (rc {child.returncode}) before reaching {point}:\n{out}")
        if time.monotonic() > deadline:
            child.kill()
            pytest.fail(f"child never reached {point}")
        time.sleep(0.1)
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait(timeout=60) == -signal.SIGKILL
    FAULTS.append(point)


@pytest.mark.parametrize("point", POINTS)
def test_rerun_after_sigkill_equals_a_clean_run(point, clean, tmp_path, prefect_harness):
    from flows.nightly import nightly

    clean_dir, expected = clean
    data = tmp_path / "data"
    if point == "publish":  # the date is already published: kill while replacing it
        shutil.copytree(clean_dir, data)
    settings = tiny_settings(data)
    kill_at(point, settings, tmp_path)
    out = nightly(run_date=RUN_DATE, settings=settings)
    assert out["recommendations"]
    got = snapshot(data)
    assert got.keys() == expected.keys()
    assert {k: v for k, v in got.items() if k != "recommendations"} == {
        k: v for k, v in expected.items() if k != "recommendations"}
    assert got["recommendations"] == expected["recommendations"]
    assert leftovers(data) == []


def _drop_clicks(settings, day: date) -> None:
    """Simulated click logs (with duplicates, late and malformed events) on the lists
    published for RUN_DATE."""
    world = SyntheticWorld(settings.sources[0], settings.domains.source, settings.domains.target)
    part = settings.data_dir / "lake" / "recommendations" / f"run_date={RUN_DATE}"
    recs = pq.read_table(sorted(part.rglob("*.parquet")))
    sim = simulate(world, recs, RUN_DATE, day, ClickSimConfig(
        duplicate_rate=0.05, late_rate=0.1, malformed_rate=0.02))
    write_jsonl(sim, click_paths(settings, day).drop / "clicks.jsonl")


@pytest.mark.parametrize("point", ["clicks", "clicks-manifest"])
def test_click_ingestion_rerun_after_sigkill_equals_a_clean_one(point, clean, tmp_path):
    clean_dir, _ = clean
    day = RUN_DATE + timedelta(days=1)
    runs = {}
    for name in ("clean", "killed"):
        data = tmp_path / name / "data"
        shutil.copytree(clean_dir, data)
        runs[name] = tiny_settings(data)
        _drop_clicks(runs[name], day)
    first = ingest_day(runs["clean"], day, now=AS_OF)
    kill_at(point, runs["killed"], tmp_path)
    again = ingest_day(runs["killed"], day, now=AS_OF)
    if point == "clicks":  # died before committing: ingested again, exactly once
        assert again["totals"]["kept"] == first["totals"]["kept"] > 0
        assert again["totals"]["quarantined"] == first["totals"]["quarantined"]
    else:  # died after committing: the file is recognised as ingested, nothing is redone
        assert again["totals"]["kept"] == 0
        assert [f["reason"] for f in again["skipped_files"]] == ["already ingested"]
    assert snapshot(runs["killed"].data_dir) == snapshot(runs["clean"].data_dir)
    assert leftovers(runs["killed"].data_dir) == []


def test_summary():
    print(f"\nfaults injected (SIGKILL): {len(FAULTS)} at {FAULTS}")
