"""One clean nightly run of the tiny world, shared by every fault test as the reference."""

import pytest

from tests.conftest import RUN_DATE, tiny_settings


@pytest.fixture(scope="package")
def clean(tmp_path_factory, prefect_harness):
    """(data folder, snapshot) of a nightly run of RUN_DATE that nothing interrupted."""
    from flows.nightly import nightly
    from tests.faults.test_sigkill import snapshot

    settings = tiny_settings(tmp_path_factory.mktemp("clean") / "data")
    nightly(run_date=RUN_DATE, settings=settings)
    return settings.data_dir, snapshot(settings.data_dir)
