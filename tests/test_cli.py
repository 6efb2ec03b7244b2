"""Bad input at the command line: one line that says what and where, non-zero, nothing written."""

import shutil

from typer.testing import CliRunner

from crossrec.cli import app

runner = CliRunner()


def invoke(tmp_path, *args):
    data = tmp_path / "data"
    result = runner.invoke(app, ["run", "--data-dir", str(data), *args])
    return result, data


def test_bad_date_format(tmp_path):
    result, data = invoke(tmp_path, "--date", "22/11/2026")
    assert result.exit_code == 2
    assert "--date '22/11/2026' is not a valid date (expected YYYY-MM-DD)" in result.output
    assert not data.exists()


def test_impossible_date(tmp_path):
    result, data = invoke(tmp_path, "--date", "2026-02-30")
    assert result.exit_code == 2 and "not a valid date" in result.output
    assert not data.exists()


def test_config_typo(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[modle]\ndim = 8\n")
    result, data = invoke(tmp_path, "--config", str(cfg))
    assert result.exit_code == 2
    assert "unknown key 'modle'" in result.output and "c.toml" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not data.exists()


def test_missing_data_folder(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[sources]]\nkind = "disencdr"\npath = "nowhere"\n')
    result, data = invoke(tmp_path, "--config", str(cfg))
    assert result.exit_code == 2
    assert "data folder not found" in result.output and "nowhere" in result.output
    assert not data.exists()


def test_ingest_clicks_refuses_a_bad_date(tmp_path):
    data = tmp_path / "data"
    result = runner.invoke(app, ["ingest-clicks", "--data-dir", str(data), "--date", "yesterday"])
    assert result.exit_code == 2 and "not a valid date" in result.output
    assert not data.exists()


def test_backfill_refuses_a_reversed_or_future_range(tmp_path):
    data = tmp_path / "data"
    result = runner.invoke(app, ["backfill", "--data-dir", str(data), "--start", "2026-11-23",
                                 "--end", "2026-11-20"])
    assert result.exit_code == 2 and "is after its end" in result.output
    result = runner.invoke(app, ["backfill", "--data-dir", str(data), "--start", "2026-11-20",
                                 "--end", "2999-01-01"])
    assert result.exit_code == 2 and "in the future" in result.output
    assert not data.exists()


def test_serve_without_a_server_says_how_to_start_one(tmp_path):
    import socket

    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        result = runner.invoke(app, ["serve", "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 2
    assert "PREFECT_API_URL is unset" in result.output and "prefect server start" in result.output
    with socket.socket() as s:  # a free port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with temporary_settings({PREFECT_API_URL: f"http://127.0.0.1:{port}/api"}):
        result = runner.invoke(app, ["serve", "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 2
    assert "is not reachable" in result.output and "prefect server start" in result.output


def test_models_list_verify_fails_naming_each_corrupt_version(tmp_path):
    """Issue 24 #12: `models list --verify` printed CORRUPT and exited 0, and a version whose
    checksums.json was rewritten after an edit passed."""
    from crossrec.integrity import write_manifest
    from tests.test_integrity import FILES, hand_made_version

    models = tmp_path / "data" / "models"
    good = hand_made_version(models, FILES, "20261121")
    edited = hand_made_version(models, FILES | {"config.json": b'{"dim": 9}'}, "20261122")
    (edited / "model.safetensors").write_bytes(b"other weights")
    write_manifest(edited)  # checksums rewritten to match the edit
    flipped = hand_made_version(models, FILES | {"fusion.json": b'{"weight": 1}'}, "20261123")
    (flipped / "metrics.json").write_bytes(b'{"x": 1}')  # checksums not rewritten
    args = ["models", "list", "--data-dir", str(tmp_path / "data"), "--verify"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "2 corrupt model version(s)" in result.output
    assert f"{edited.name} (" in result.output and "not to its name" in result.output
    assert f"{flipped.name} (" in result.output and "metrics.json: checksum mismatch" in (
        result.output)
    assert f"{good.name} (" not in result.output
    for folder in (edited, flipped):
        shutil.rmtree(folder)
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
