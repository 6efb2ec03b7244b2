"""crossrec status: data-folder facts always; flow runs from the API, or a clear message."""

from typer.testing import CliRunner

from crossrec.cli import app
from crossrec.integrity import write_manifest
from crossrec.registry import promote
from tests.clicks.test_ingest import publish_fake_lists
from tests.conftest import tiny_settings

runner = CliRunner()


def test_status_lists_partitions_model_and_runs(tmp_path, prefect_harness):
    from prefect import flow

    @flow(name="status-probe", flow_run_name="probe-run")
    def probe() -> int:
        return 1

    probe()
    settings = tiny_settings(tmp_path / "data")
    publish_fake_lists(settings)
    models = settings.data_dir / "models"
    for name in ("20261121-old", "20261122-abc"):
        (models / name).mkdir(parents=True)
        write_manifest(models / name)
    (models / "20261123-unfinished").mkdir()  # no checksums: never finished, not listed
    promote(models, "20261121-old", "gate: first champion")
    result = runner.invoke(app, ["status", "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "recommendations run_date=2026-11-22/domain=cloth: 3 rows, model v1" in out
    assert "newest model version: 20261122-abc" in out
    assert ("champion: 20261121-old (last decision: promote 20261121-old: gate: first "
            "champion)") in out
    assert "newest click partition: none" in out
    assert "status-probe" in out and "probe-run" in out and "Completed" in out


def test_status_without_a_server_still_shows_the_data_folder(tmp_path):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        result = runner.invoke(app, ["status", "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 1
    assert "recommendations: none published yet" in result.output
    assert "prefect server start" in result.output
