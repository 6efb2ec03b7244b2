"""Shared fixtures. PREFECT_HOME points at a temp dir before Prefect is ever imported."""

import os
import tempfile
from datetime import date
from pathlib import Path

import pytest

os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="crossrec-prefect-")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from crossrec.config import Settings  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "amazon-disencdr"
RUN_DATE = date(2026, 11, 22)


def tiny_settings(data_dir: Path, **overrides) -> Settings:
    """A world small enough for the whole flow to run in seconds on 2 cores."""
    raw = {
        "data_dir": str(data_dir),
        "sources": [{"kind": "synthetic", "n_users": 300, "n_items": 60, "seed": 3}],
        "validation": {"min_rows": 50},
        "model": {"dim": 16, "max_history": 20},
        "train": {"pretrain_epochs": 2, "adapt_epochs": 3, "finetune_epochs": 3,
                  "batch_size": 128},
        "score": {"top_n": 10},
        "run": {"progress": False, "threads": 1},
    }
    for key, value in overrides.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    return Settings.model_validate(raw)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return tiny_settings(tmp_path / "data")


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=300):
        yield


def require_shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (see shared/data/README.md)")
    return SHARED_DATA
