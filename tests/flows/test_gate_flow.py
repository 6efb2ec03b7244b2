"""The quality gate inside the nightly flow, and ``crossrec models`` on its registry."""

import json
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from crossrec.cli import app
from crossrec.registry import read_registry
from tests.conftest import RUN_DATE, tiny_settings

DAY2, DAY3 = RUN_DATE + timedelta(days=1), RUN_DATE + timedelta(days=2)
STRICT = {"min_score": 0.99}  # no model reaches it: the challenger is rejected


def _partition(data: Path, day) -> Path:
    return data / "lake" / "recommendations" / f"run_date={day}" / "domain=cloth"


@pytest.fixture(scope="module")
def nights(tmp_path_factory, prefect_harness):
    from flows.nightly import nightly

    data = tmp_path_factory.mktemp("gate") / "data"
    first = nightly(run_date=RUN_DATE, settings=tiny_settings(data))
    kept = nightly(run_date=DAY2, settings=tiny_settings(data, gate=STRICT))
    champion = nightly(run_date=DAY3, settings=tiny_settings(
        data, gate={**STRICT, "on_reject": "champion"}))
    return data, first, kept, champion


def test_first_model_becomes_champion_and_is_published(nights):
    data, first, *_ = nights
    assert first["gate"] == "accepted: first champion"
    assert first["published_model"] == first["model"]
    report = (Path(first["report"])).read_text()
    assert "## Quality gate" in report and "accepted: first champion" in report


def test_a_rejected_challenger_leaves_yesterdays_lists_in_place(nights):
    data, first, kept, _ = nights
    assert kept["model"] != first["model"]  # a new version was trained and kept
    assert Path(kept["model"]).is_dir()
    assert kept["published_model"] is None and kept["recommendations"] is None
    assert not _partition(data, DAY2).exists() and _partition(data, RUN_DATE).is_dir()
    gate = json.loads((Path(kept["metrics"]).parent / "gate.json").read_text())
    assert not gate["accepted"] and gate["champion"] == Path(first["model"]).name
    assert "below the floor 0.9900" in gate["summary"]
    assert set(gate["scores"]) == {"crossrec", "champion", "popularity"}
    report = Path(kept["report"]).read_text()
    assert "below the floor" in report and "previous recommendations stay in place" in report
    rows = json.loads(Path(kept["metrics"]).read_text())["rows"]
    assert {"champion", "crossrec"} <= {r["method"] for r in rows}
    registry = read_registry(data / "models")
    assert registry.champion == Path(first["model"]).name
    assert registry.status(Path(kept["model"]).name) == "rejected"


def test_on_reject_champion_rescores_today_with_the_champion(nights):
    data, first, _, third = nights
    assert third["published_model"] == first["model"]
    recs = pl.read_parquet(_partition(data, DAY3))
    users = pl.read_parquet(Path(third["marts"]) / "mart_eval_split.parquet")
    assert recs["model_version"].unique().to_list() == [Path(first["model"]).name]
    assert recs["user_id"].n_unique() == users.height


def test_models_cli_lists_promotes_and_rolls_back(nights, tmp_path):
    data, first, kept, _ = nights
    v1, v2 = Path(first["model"]).name, Path(kept["model"]).name
    config = tmp_path / "tiny.toml"
    config.write_text(f'data_dir = "{data}"\n[[sources]]\nkind = "synthetic"\nn_users = 300\n'
                      "n_items = 60\nseed = 3\n[model]\ndim = 16\nmax_history = 20\n"
                      "[score]\ntop_n = 10\n[run]\nprogress = false\nthreads = 1\n")
    runner = CliRunner()
    listed = runner.invoke(app, ["models", "list", "--config", str(config), "--verify"])
    assert listed.exit_code == 0, listed.output
    lines = {line.split()[0]: line for line in listed.output.splitlines()[1:]}
    assert "champion" in lines[v1] and "rejected" in lines[v2]
    assert "CORRUPT" not in listed.output
    # each night's held-out version is listed, pointing at the refit it selected
    s1 = Path(first["selection_model"]).name
    assert f"held out: selected {v1}" in lines[s1] and f"refit of {s1}" in lines[v1]

    promoted = runner.invoke(app, ["models", "promote", v2, "--config", str(config),
                                   "--publish", DAY2.isoformat()])
    assert promoted.exit_code == 0, promoted.output
    assert f"champion: {v2}" in promoted.output
    day2 = pl.read_parquet(_partition(data, DAY2))
    assert day2["model_version"].unique().to_list() == [v2]

    back = runner.invoke(app, ["models", "rollback", "--config", str(config)])
    assert back.exit_code == 0, back.output
    assert f"champion: {v1} (retired {v2})" in back.output
    assert read_registry(data / "models").status(v2) == "rolled back"

    missing = runner.invoke(app, ["models", "promote", "nope", "--config", str(config)])
    assert missing.exit_code == 1 and "no finished model version 'nope'" in missing.output
