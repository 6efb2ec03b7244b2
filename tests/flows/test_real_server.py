"""Operations against a real Prefect server: `prefect server start` on loopback, the
deployments served by `crossrec serve`, runs triggered through the API.

Marked ``server`` (it takes a few minutes) but part of the default test run."""

import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.server

REPO = Path(__file__).resolve().parents[2]
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
CONFIG = """
data_dir = "data"
[[sources]]
kind = "synthetic"
n_users = 300
n_items = 60
seed = 3
[validation]
min_rows = 50
[model]
dim = 16
max_history = 20
[train]
pretrain_epochs = 2
adapt_epochs = 3
finetune_epochs = 3
batch_size = 128
[score]
top_n = 10
[run]
progress = false
threads = 1
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise TimeoutError(f"prefect server at {url} not healthy after {timeout_s} s")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("server")
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(root / "home"), "PREFECT_API_URL": url,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    log = (root / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host",
                             "127.0.0.1", "--port", str(port)], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        wait_healthy(url, proc)
        yield url, env, root
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def served(server):
    url, env, root = server
    (root / "crossrec.toml").write_text(CONFIG)
    log = (root / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "crossrec.cli", "serve", "--config",
                             str(root / "crossrec.toml")], cwd=REPO, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        yield url, env, root, proc
    finally:
        stop(proc)


@contextmanager
def api(url: str):
    """A sync client of the server at ``url`` (not the test harness's)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: url}), get_client(sync_client=True) as client:
        yield client


def create(url: str, name: str, parameters: dict):
    """A new run of deployment ``name`` (waiting for serve to register it)."""
    with api(url) as client:
        deadline = time.monotonic() + 120
        while True:
            try:
                deployment = client.read_deployment_by_name(name)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        return client.create_flow_run_from_deployment(deployment.id, parameters=parameters)


def wait(url: str, run, timeout_s: float = 420):
    with api(url) as client:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            run = client.read_flow_run(run.id)
            if run.state and run.state.type.value in TERMINAL:
                return run
            time.sleep(2)
    raise TimeoutError(f"run {run.id} not finished after {timeout_s} s")


def trigger(url: str, name: str, parameters: dict, timeout_s: float = 420):
    """Create a run of deployment ``name`` and wait for a final state."""
    return wait(url, create(url, name, parameters), timeout_s)


def test_nightly_and_backfill_through_the_api(served):
    url, env, root, proc = served
    run = trigger(url, "nightly/nightly", {"run_date": "2026-11-22"})
    assert run.state.type.value == "COMPLETED", (root / "serve.log").read_text()[-3000:]
    back = trigger(url, "backfill/backfill", {"start": "2026-11-20", "end": "2026-11-21"})
    assert back.state.type.value == "COMPLETED", (root / "serve.log").read_text()[-3000:]
    lake = root / "data" / "lake" / "recommendations"
    assert sorted(p.name for p in lake.iterdir()) == [
        "run_date=2026-11-20", "run_date=2026-11-21", "run_date=2026-11-22"]
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with api(url) as client:
        metrics = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["crossrec-metrics"])))
    runs = {a.flow_run_id for a in metrics}
    assert run.id in runs and len(runs) == 3  # the nightly run and both backfill days
    assert proc.poll() is None  # serve is still up after the runs


def test_a_deployment_triggered_twice_at_once_runs_one_after_the_other(served):
    url, env, root, _ = served
    first = create(url, "nightly/nightly", {"run_date": "2026-11-19"})
    second = create(url, "nightly/nightly", {"run_date": "2026-11-19"})
    done = [wait(url, first), wait(url, second)]
    assert [r.state.type.value for r in done] == ["COMPLETED", "COMPLETED"], (
        (root / "serve.log").read_text()[-3000:])
    # one at a time: the second started after the first ended, and left one clean partition
    assert done[1].start_time >= done[0].end_time or done[0].start_time >= done[1].end_time
    part = root / "data" / "lake" / "recommendations" / "run_date=2026-11-19"
    assert [p.name for p in part.iterdir()] == ["domain=cloth"]
    assert not list((root / "data" / "lake" / ".staging").glob("recommendations-*"))


def chromium() -> str:
    """The chromium binary; the Debian package is installed when missing and possible."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.skip("no chromium, and no apt-get as root to install it: the UI check needs "
                    "Debian's chromium package (apt-get install chromium)")
    done = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
                          capture_output=True, text=True, timeout=600)
    found = shutil.which("chromium")
    if done.returncode or not found:
        pytest.skip(f"could not install chromium with apt-get: {done.stderr[-300:]}")
    return found


def test_ui_shows_the_nightly_run_completed(served):
    """Headless chromium renders the flow-run page; a screenshot goes to data/reports/."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    url, env, root, _ = served
    browser = chromium()
    with api(url) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            name=FlowRunFilterName(any_=["nightly-2026-11-22"])))
    if not runs:  # this test alone: make the run it looks at
        trigger(url, "nightly/nightly", {"run_date": "2026-11-22"})
        with api(url) as client:
            runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
                name=FlowRunFilterName(any_=["nightly-2026-11-22"])))
    page = url.removesuffix("/api") + f"/runs/flow-run/{runs[0].id}"
    common = [browser, "--headless=new", "--no-sandbox", "--disable-gpu",
              "--virtual-time-budget=20000", "--window-size=1400,900"]
    dom = subprocess.run([*common, "--dump-dom", page], capture_output=True, text=True,
                         timeout=120).stdout
    assert "nightly-2026-11-22" in dom and "Completed" in dom
    shot = root / "data" / "reports" / "prefect-ui-flow-run.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([*common, f"--screenshot={shot}", page], capture_output=True, timeout=120)
    assert shot.is_file() and shot.stat().st_size > 10_000
    keep = os.environ.get("CROSSREC_SCREENSHOT_DIR")  # e.g. to refresh the README's copy
    if keep:
        shutil.copy(shot, Path(keep) / shot.name)
