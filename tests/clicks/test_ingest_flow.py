"""The ingest-clicks flow with a click log served over HTTP on loopback."""

import functools
import json
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.clicks.test_ingest import DAY, NOW, event, publish_fake_lists
from tests.conftest import tiny_settings


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def web(tmp_path):
    root = tmp_path / "web"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=root))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_flow_downloads_the_days_log_and_reports_feedback(tmp_path, web, prefect_harness):
    from flows.ingest_clicks import ingest_clicks

    root, base = web
    (root / f"clicks-{DAY.isoformat()}.jsonl").write_text(
        "\n".join(json.dumps(e) for e in [event(1), event(2, "click"), event(3, user="ghost")]))
    settings = tiny_settings(tmp_path / "data",
                             clicks={"urls": [base + "/clicks-{event_date}.jsonl"]})
    publish_fake_lists(settings)
    out = ingest_clicks(DAY, settings=settings, as_of=NOW)
    totals = out["summary"]["totals"]
    assert (totals["read"], totals["kept"], totals["quarantined"]) == (3, 2, 1)
    assert out["summary"]["quarantined_by_reason"] == {"unknown user": 1}
    report = (settings.data_dir / "reports" / DAY.isoformat() / "feedback.md").read_text()
    assert "## By rank" in report and "| 1 | 1 | 1 | 0 | 1.0 | 0.0 |" in report
