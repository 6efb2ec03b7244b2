"""Collector speed: rows/second and peak memory of the generic CSV and the Amazon JSONL collector.

Makes a file of ``--rows`` interactions with the synthetic generator (CSV, and the same rows as
Amazon 2018-style review JSON lines), then runs ``collect`` on each in a fresh subprocess, so
each peak RSS is that collector's own. Run at two sizes to see memory stay flat:

    .venv/bin/python bench/collect_speed.py --rows 5000000
    .venv/bin/python bench/collect_speed.py --rows 1000000 --rows 5000000

Prints a table and writes ``bench/results/collect_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crossrec.collect.sources import SyntheticSource  # noqa: E402
from crossrec.collect.synthetic import SyntheticWorld  # noqa: E402

DAY = date(2026, 11, 22)


def make_files(rows: int, folder: Path) -> tuple[Path, Path]:
    """A CSV and an Amazon-style JSONL file with the same ``rows`` synthetic interactions."""
    world = SyntheticWorld(SyntheticSource(n_users=max(rows // 15, 100), n_items=5000, seed=1),
                           "sport", "cloth")
    csv_path, json_path = folder / "interactions.csv", folder / "reviews_Sports.json"
    left = rows
    writer = None
    with json_path.open("w") as jf:
        for batch in world.interactions(DAY, 200_000):
            if left <= 0:
                break
            batch = batch.slice(0, left)
            left -= batch.num_rows
            item = pa.compute.utf8_slice_codeunits(batch["item_id"], 6)  # drop "sport:"/"cloth:"
            ts = pa.compute.divide(batch["event_ts"].cast(pa.int64()), 1_000_000)
            rating = pa.array((batch["line"].to_numpy() % 5 + 1).astype("float32"))
            table = pa.table({"user_id": batch["user_id"], "item_id": item,
                              "domain": batch["domain"], "rating": rating, "event_ts": ts})
            if writer is None:
                writer = pcsv.CSVWriter(csv_path, table.schema)
            writer.write_table(table)
            for u, i, r, t in zip(table["user_id"].to_pylist(), item.to_pylist(),
                                  rating.to_pylist(), ts.to_pylist(), strict=True):
                jf.write(json.dumps({"reviewerID": u, "asin": i, "overall": r,
                                     "unixReviewTime": t, "summary": "fine",
                                     "reviewText": "as described"}) + "\n")
    writer.close()
    return csv_path, json_path


def measure(kind: str, path: Path, data_dir: Path, memory_limit: str) -> dict:
    """Runs in the child process: one ``collect`` over one file."""
    from crossrec.collect.collector import collect
    from crossrec.config import Settings

    if kind == "csv":
        src = {"kind": "csv", "path": str(path), "ts_unit": "s",
               "columns": {"user_id": "user_id", "item_id": "item_id", "domain": "domain",
                           "rating": "rating", "event_ts": "event_ts"}}
    else:
        src = {"kind": "amazon", "path": str(path), "domain": "sport"}
    settings = Settings.model_validate({"data_dir": str(data_dir), "sources": [src],
                                        "collect": {"memory_limit": memory_limit}})
    start = time.perf_counter()
    summary = collect(settings, DAY)
    seconds = time.perf_counter() - start
    read = summary["totals"]["read"]
    return {"collector": kind, "rows": read, "seconds": round(seconds, 2),
            "rows_per_s": round(read / seconds), "landed": summary["totals"]["landed"],
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "file_mb": round(path.stat().st_size / 2**20)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, action="append", help="interactions per file")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "collect_speed.json")
    ap.add_argument("--memory-limit", default="512MB",
                    help="DuckDB memory limit of the de-duplication pass")
    ap.add_argument("--keep", type=Path, help="keep the generated files in this folder")
    ap.add_argument("--measure", nargs=3, metavar=("KIND", "FILE", "DATA_DIR"),
                    help=argparse.SUPPRESS)  # internal: run one measurement in this process
    args = ap.parse_args()
    if args.measure:
        kind, file, data_dir = args.measure
        print(json.dumps(measure(kind, Path(file), Path(data_dir), args.memory_limit)))
        return
    results = []
    for rows in args.rows or [5_000_000]:
        with tempfile.TemporaryDirectory(prefix="crossrec-bench-") as tmp:
            t0 = time.perf_counter()
            files = make_files(rows, Path(tmp))
            print(f"made {rows:,} rows as CSV + JSONL in {time.perf_counter() - t0:.0f}s",
                  flush=True)
            for kind, path in zip(("csv", "amazon"), files, strict=True):
                out = subprocess.run(
                    [sys.executable, __file__, "--memory-limit", args.memory_limit, "--measure",
                     kind, str(path), f"{tmp}/d-{kind}"],
                    check=True, capture_output=True, text=True)
                results.append(json.loads(out.stdout.strip().splitlines()[-1]))
                r = results[-1]
                print(f"{kind:7s} {r['rows']:>10,} rows  {r['seconds']:7.1f}s  "
                      f"{r['rows_per_s']:>9,} rows/s  peak RSS {r['peak_rss_mb']:,} MB  "
                      f"(file {r['file_mb']:,} MB)", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": platform.platform(), "cpus": _cpus(),
                                    "results": results}, indent=2) + "\n")
    print(f"wrote {args.out}")


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
