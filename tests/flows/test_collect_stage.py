"""The flow's download and collect stages: Prefect retries, and a generic CSV by config alone."""

import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.dataset as ds
import pytest

from crossrec.collect.download import DownloadError
from crossrec.collect.sources import SyntheticSource
from crossrec.collect.synthetic import SyntheticWorld
from crossrec.config import Settings, load_settings
from tests.conftest import RUN_DATE, tiny_settings

EXAMPLES = Path(__file__).resolve().parents[2] / "deployments" / "examples"


class Flaky(BaseHTTPRequestHandler):
    """503 for the first ``fail_first`` requests of a path, then the body; 404 elsewhere."""

    body = b"user_id,item_id,domain,rating\nu1,1,book,5\n"
    fail_first = 2
    seen: dict[str, int] = {}

    def do_GET(self):
        n = self.seen[self.path] = self.seen.get(self.path, 0) + 1
        if self.path != "/data.csv":
            self.send_error(404)
        elif n <= self.fail_first:
            self.send_error(503)
        else:
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.body)))
            self.end_headers()
            self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    Flaky.seen = {}
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def url_settings(tmp_path, url):
    return Settings.model_validate({
        "data_dir": str(tmp_path / "data"),
        "sources": [{"kind": "csv", "path": url, "domain": "book",
                     "columns": {"user_id": "user_id", "item_id": "item_id"}}],
        "collect": {"download_retries": 3, "retry_delay_s": 0.0}})


def test_download_is_retried_by_prefect_until_it_succeeds(tmp_path, server, prefect_harness):
    from prefect import flow

    from flows.nightly import download_all

    settings = url_settings(tmp_path, f"{server}/data.csv")
    paths = flow(lambda: download_all(settings), name="t-download")()
    assert Flaky.seen["/data.csv"] == 3  # two 503s, then the file
    assert paths[f"{server}/data.csv"].read_bytes() == Flaky.body


def test_a_404_is_not_retried(tmp_path, server, prefect_harness):
    from prefect import flow

    from flows.nightly import download_all

    settings = url_settings(tmp_path, f"{server}/gone.csv")
    with pytest.raises(DownloadError, match="404"):
        flow(lambda: download_all(settings), name="t-download-404")()
    assert Flaky.seen["/gone.csv"] == 1


def test_nightly_on_a_generic_csv_by_config_alone(tmp_path, prefect_harness):
    """The example config, pointed at a CSV export with user_id,item_id,domain,rating."""
    from flows.nightly import nightly

    folder = tmp_path / "cfg"
    folder.mkdir()
    shutil.copy(EXAMPLES / "generic-csv.toml", folder)
    world = SyntheticWorld(SyntheticSource(n_users=300, n_items=60, seed=3), "book", "music")
    t = pa.Table.from_batches(list(world.interactions(RUN_DATE)))
    local = pc.replace_substring_regex(t["item_id"], "^[a-z0-9_]+:", "")
    ratings = pa.array([4 + (i % 7 == 0) - 2 * (i % 13 == 0) for i in range(t.num_rows)])
    pcsv.write_csv(pa.table({"user_id": t["user_id"], "item_id": local, "domain": t["domain"],
                             "rating": ratings}), folder / "interactions.csv")
    tiny = tiny_settings(tmp_path)
    settings = load_settings(folder / "generic-csv.toml", data_dir=str(tmp_path / "data"),
                             **{k: getattr(tiny, k).model_dump() for k in
                                ("validation", "model", "train", "score", "run")})
    out = nightly(run_date=RUN_DATE, settings=settings)
    recs = ds.dataset(out["recommendations"]).to_table()
    # the export's own (bare) ids come back: every published id is a music id of the CSV
    music = set(local.filter(pc.equal(t["domain"], "music")).to_pylist())
    assert recs.num_rows > 0 and set(recs["item_id"].to_pylist()) <= music
    summary = (tmp_path / "data" / "reports" / str(RUN_DATE) / "collect.json").read_text()
    assert '"below min_rating"' in summary  # the rating threshold was applied
