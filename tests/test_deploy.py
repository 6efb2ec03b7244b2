"""deployments/prefect.yaml: anchors resolve, schedules carry a timezone, serve builds them."""

import pytest

from crossrec.deploy import DeploymentSpec, load_deployments, runner_deployments
from crossrec.errors import ConfigError


def test_repo_deployments_resolve_their_anchors():
    specs = {s.name: s for s in load_deployments()}
    assert set(specs) == {"nightly", "ingest-clicks", "backfill"}
    nightly, clicks = specs["nightly"], specs["ingest-clicks"]
    assert [(s.cron, s.timezone) for s in nightly.schedules] == [("0 2 * * *", "Europe/Berlin")]
    assert clicks.schedules[0].cron == "30 1 * * *"  # before the nightly run
    assert specs["backfill"].schedules == []
    assert nightly.parameters == clicks.parameters == {"config_path": None, "data_dir": None}
    assert nightly.work_pool == {"name": "crossrec", "work_queue_name": "default"}


def test_runner_deployments_carry_schedules_and_parameters():
    from flows.backfill import backfill
    from flows.ingest_clicks import ingest_clicks
    from flows.nightly import nightly

    runners = runner_deployments(load_deployments(), {
        "nightly": nightly, "ingest-clicks": ingest_clicks, "backfill": backfill},
        {"config_path": "/etc/crossrec.toml", "data_dir": None})
    by_name = {r.name: r for r in runners}
    sched = by_name["nightly"].schedules[0].schedule
    assert (sched.cron, sched.timezone) == ("0 2 * * *", "Europe/Berlin")
    assert by_name["nightly"].parameters == {"config_path": "/etc/crossrec.toml"}
    assert not by_name["backfill"].schedules


def test_bad_deployment_files_are_refused(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("deployments:\n  - name: nightly\n    entrypoint: x.py:f\n    schedule: daily\n")
    with pytest.raises(ConfigError, match="invalid deployment"):
        load_deployments(bad)
    with pytest.raises(ConfigError, match="without a flow"):
        runner_deployments([DeploymentSpec(name="other", entrypoint="x.py:f")], {})
