"""The collector end to end: landing partition, quarantine, summary, bad-row budget, URLs."""

import hashlib
import json
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from crossrec.collect.collector import collect, summary_path
from crossrec.config import Settings
from crossrec.errors import InputDataError
from tests.conftest import RUN_DATE, require_shared_data

EXAMPLES = Path(__file__).resolve().parents[2] / "deployments" / "examples"

DOMAINS = ("sport", "cloth")  # the default pair: a collection must land rows of both
CSV_MAP = {"user_id": "user_id", "item_id": "item_id", "domain": "domain", "rating": "rating"}


def settings_for(tmp_path, sources, **kw):
    return Settings.model_validate({"data_dir": str(tmp_path / "data"), "sources": sources, **kw})


def landing(tmp_path):
    return tmp_path / "data" / "landing" / f"ingest_date={RUN_DATE}"


def write_csv(path, rows):
    path.write_text("user_id,item_id,domain,rating\n" + "".join(f"{r}\n" for r in rows))
    return path


def test_lands_dedupes_quarantines_and_summarises(tmp_path):
    f = write_csv(tmp_path / "a.csv", ["u1,1,sport,5", "u1,1,sport,5", "u1,2,cloth,4",
                                       "u2,3,cloth,x"] + [f"u{i},9,cloth,5" for i in range(40)])
    s = settings_for(tmp_path, [{"kind": "csv", "path": str(f), "columns": CSV_MAP}])
    summary = collect(s, RUN_DATE)

    landed = pq.read_table(landing(tmp_path) / "interactions" / "csv-0.parquet")
    assert landed.num_rows == 42  # 44 rows read, one duplicate and one bad rating out
    q = pq.read_table(tmp_path / "data" / "quarantine" / f"ingest_date={RUN_DATE}" /
                      "csv-0.parquet").to_pylist()
    assert {(r["line"], r["reason"]) for r in q} == {(3, "duplicate row"), (5, "not a number")}
    assert next(r for r in q if r["reason"] == "duplicate row")["detail"].endswith("line 2")

    f_sum = summary["sources"]["csv-0"]["files"][str(f)]
    assert f_sum["read"] == 44 and f_sum["landed"] == 42
    assert f_sum["quarantined"] == {"duplicate row": 1, "not a number": 1}
    assert summary["landed_by_domain"] == {"sport": 1, "cloth": 41}
    assert json.loads(summary_path(s, RUN_DATE).read_text()) == summary
    # readers of the landing zone see every row exactly once
    con = duckdb.connect()
    n = con.execute("SELECT count(*) FROM read_parquet(?, hive_partitioning = true)",
                    [str(tmp_path / "data" / "landing" / "*" / "interactions" / "*.parquet")]
                    ).fetchall()[0][0]
    assert n == 42


def test_rerun_replaces_the_partition_and_drops_stale_quarantine(tmp_path):
    f = write_csv(tmp_path / "a.csv", ["u1,1,sport,5", "u2,2,sport,bad"] +
                  [f"u{i},9,cloth,5" for i in range(40)])
    s = settings_for(tmp_path, [{"kind": "csv", "path": str(f), "columns": CSV_MAP}])
    collect(s, RUN_DATE)
    first = pq.read_table(landing(tmp_path) / "interactions" / "csv-0.parquet")
    collect(s, RUN_DATE)
    assert pq.read_table(landing(tmp_path) / "interactions" / "csv-0.parquet").equals(first)
    write_csv(f, ["u1,1,sport,5"] + [f"u{i},9,cloth,5" for i in range(40)])
    collect(s, RUN_DATE)
    assert not (tmp_path / "data" / "quarantine" / f"ingest_date={RUN_DATE}").exists()
    assert not any((tmp_path / "data" / "landing" / ".staging").iterdir())


def test_bad_row_ratio_fails_naming_the_file_and_keeps_previous_partition(tmp_path):
    good = write_csv(tmp_path / "a.csv", [f"u{i},1,{DOMAINS[i % 2]},5" for i in range(10)])
    s = settings_for(tmp_path, [{"kind": "csv", "path": str(good), "columns": CSV_MAP}])
    collect(s, RUN_DATE)
    before = pq.read_table(landing(tmp_path) / "interactions" / "csv-0.parquet")

    write_csv(good, [f"u{i},1,{DOMAINS[i % 2]},5" for i in range(8)]
              + ["u8,1,sport,oops", "u9,,sport,5"])
    with pytest.raises(InputDataError) as err:
        collect(s, RUN_DATE)
    msg = str(err.value)
    assert str(good) in msg and "2 of 10 rows quarantined (20.0%)" in msg
    assert "max_bad_ratio 5.0%" in msg and "line 10, column 'rating'" in msg
    assert pq.read_table(landing(tmp_path) / "interactions" / "csv-0.parquet").equals(before)
    assert json.loads(summary_path(s, RUN_DATE).read_text())["ok"] is False
    # the failed run's quarantine is kept for inspection beside, not over, the good run's
    failed = tmp_path / "data" / "quarantine" / ".failed" / f"ingest_date={RUN_DATE}"
    assert (failed / "csv-0.parquet").exists() and str(failed) in msg
    assert not (tmp_path / "data" / "quarantine" / f"ingest_date={RUN_DATE}").exists()

    # a looser budget for this input lets the good rows land
    s2 = settings_for(tmp_path, [{"kind": "csv", "path": str(good), "columns": CSV_MAP,
                                  "max_bad_ratio": 0.25}])
    assert collect(s2, RUN_DATE)["totals"] == {"read": 10, "landed": 8, "quarantined": 2,
                                               "filtered": 0}
    assert not failed.exists()  # a good run clears the stale failure's quarantine


def test_synthetic_default_lands_interactions_and_items(tmp_path):
    s = settings_for(tmp_path, [{"kind": "synthetic", "n_users": 200, "n_items": 50}])
    summary = collect(s, RUN_DATE)
    inter = pq.read_table(landing(tmp_path) / "interactions" / "synthetic-0.parquet")
    items = pq.read_table(landing(tmp_path) / "items" / "synthetic-0.parquet")
    assert inter.num_rows == summary["totals"]["landed"] > 0
    assert set(inter["domain"].to_pylist()) == {"sport", "cloth"}
    assert items.num_rows == 100 and summary["sources"]["synthetic-0"]["items"] == 100


@pytest.fixture
def http_dir(tmp_path):
    """A real HTTP server on 127.0.0.1 serving a folder."""
    root = tmp_path / "www"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_csv_by_url_with_checksum(tmp_path, http_dir):
    root, base = http_dir
    f = write_csv(root / "a.csv", [f"u{i},{i},{DOMAINS[i % 2]},5" for i in range(5)])
    digest = hashlib.sha256(f.read_bytes()).hexdigest()
    s = settings_for(tmp_path, [{"kind": "csv", "path": f"{base}/a.csv", "sha256": digest,
                                 "columns": CSV_MAP}])
    assert collect(s, RUN_DATE)["totals"]["landed"] == 5

    bad = settings_for(tmp_path, [{"kind": "csv", "path": f"{base}/a.csv", "sha256": "0" * 64,
                                   "columns": CSV_MAP}], collect={"cache_dir": str(tmp_path / "c")})
    with pytest.raises(InputDataError, match="(?i)sha-?256"):
        collect(bad, RUN_DATE)


def test_url_404_fails_clearly(tmp_path, http_dir):
    _, base = http_dir
    s = settings_for(tmp_path, [{"kind": "csv", "path": f"{base}/missing.csv",
                                 "columns": CSV_MAP}])
    with pytest.raises(InputDataError, match="404.*missing.csv|missing.csv.*404"):
        collect(s, RUN_DATE)


def test_disencdr_pair_by_url(tmp_path, http_dir):
    root, base = http_dir
    for folder, rows in (("sport_cloth", "1\t10\t1\n2\t11\t1\n"), ("cloth_sport", "1\t5\t1\n")):
        (root / "pair" / folder).mkdir(parents=True)
        (root / "pair" / folder / "train.txt").write_text(rows)
    s = settings_for(tmp_path, [{"kind": "disencdr", "path": f"{base}/pair"}])
    summary = collect(s, RUN_DATE)  # test_original.txt is absent on the server: optional
    assert summary["landed_by_domain"] == {"sport": 2, "cloth": 1}


def test_example_config_points_the_pipeline_at_the_real_pair(tmp_path):
    """deployments/examples/disencdr-sport-cloth.toml: collect, features and the gate run on
    the real sport/cloth pair by config alone."""
    require_shared_data()
    from crossrec.config import load_settings
    from crossrec.features.build import build_features
    from crossrec.validate.gate import validate_warehouse

    s = load_settings(EXAMPLES / "disencdr-sport-cloth.toml", data_dir=str(tmp_path / "data"))
    summary = collect(s, RUN_DATE)
    # README: 92,612 sport and 87,829 cloth train rows, plus one test row per user (9,928)
    assert summary["landed_by_domain"] == {"sport": 92_612 + 9_928, "cloth": 87_829 + 9_928}
    assert summary["totals"]["quarantined"] == 0
    build = build_features(s, RUN_DATE)
    assert build.row_counts["int_user_domains"] == 9_928
    assert validate_warehouse(s, RUN_DATE).is_file()


def test_rows_of_other_domains_are_filtered_and_counted_per_file(tmp_path):
    """A multi-category export: only the configured pair lands; the rest is counted as
    filtered, per file, and the landing batch passes the validation gate's domain check."""
    rows = [f"u{i},{i % 7},{d},5" for i in range(60) for d in ("sport", "cloth", "book")]
    a = write_csv(tmp_path / "a.csv", rows + ["u1,9,toys,5", "u2,9,toys,4"])
    b = write_csv(tmp_path / "b.csv", [f"u{i},3,cloth,5" for i in range(5)])
    s = settings_for(tmp_path, [{"kind": "csv", "path": str(a), "columns": CSV_MAP},
                                {"kind": "csv", "path": str(b), "columns": CSV_MAP}])
    summary = collect(s, RUN_DATE)
    fa = summary["sources"]["csv-0"]["files"][str(a)]
    assert fa["filtered"] == {"other domain": 62} and fa["quarantined"] == {}
    assert fa["read"] == 182 and fa["landed"] == 120
    assert fa["domains"] == {"sport": 60, "cloth": 60, "book": 60, "toys": 2}
    assert summary["sources"]["csv-1"]["files"][str(b)]["filtered"] == {}
    assert summary["totals"] == {"read": 187, "landed": 125, "quarantined": 0, "filtered": 62}
    landed = pq.read_table(landing(tmp_path) / "interactions" / "csv-0.parquet")
    assert set(landed["domain"].to_pylist()) == {"sport", "cloth"}
