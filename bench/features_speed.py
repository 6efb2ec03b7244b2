"""Feature build speed: seconds and peak RSS of the SQL layer for 1M and 10M interactions.

For each size, lands a synthetic world of about that many interactions (collect), then runs
``build_features`` in a fresh process three times: a full refresh, an incremental run with
nothing new, and an incremental run after one more ingest date landed. DuckDB gets
``--threads`` (2) and ``--memory-limit`` (spilling to the data folder beyond it).

    .venv/bin/python bench/features_speed.py                 # 1M and 10M
    .venv/bin/python bench/features_speed.py --rows 1000000  # one size

Prints a table and writes ``bench/results/features_speed.json``.
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
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DAY = date(2026, 11, 22)
ROWS_PER_USER = 20.4  # synthetic default: (2 * overlap + (1 - overlap)) * mean_interactions


def settings_for(data_dir: Path, rows: int, threads: int, memory_limit: str):
    from crossrec.config import Settings

    return Settings.model_validate({
        "data_dir": str(data_dir),
        "sources": [{"kind": "synthetic", "n_users": max(int(rows / ROWS_PER_USER), 100),
                     "n_items": 5000, "days": 30}],
        "features": {"threads": threads, "memory_limit": memory_limit},
        "validation": {"min_rows": 1}})


def measure(data_dir: Path, rows: int, threads: int, memory_limit: str, day: date,
            full: bool) -> dict:
    """Runs in the child process: one feature build."""
    from crossrec.features.build import build_features

    settings = settings_for(data_dir, rows, threads, memory_limit)
    start = time.perf_counter()
    build = build_features(settings, day, full_refresh=full)
    seconds = time.perf_counter() - start
    r = build.incremental["stg_landed"]
    return {"seconds": round(seconds, 2), "stg_interactions": build.row_counts["stg_interactions"],
            "partitions_loaded": len(r.loaded), "full_refresh": r.full_refresh,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def child(args: argparse.Namespace, data_dir: Path, rows: int, day: date, full: bool) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--threads", str(args.threads), "--memory-limit",
         args.memory_limit, "--measure", str(data_dir), str(rows), day.isoformat(),
         "full" if full else "incremental"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_size(args: argparse.Namespace, rows: int, folder: Path) -> dict:
    from crossrec.collect.collector import collect

    data_dir = folder / f"d{rows}"
    settings = settings_for(data_dir, rows, args.threads, args.memory_limit)
    t0 = time.perf_counter()
    landed = collect(settings, DAY)["totals"]["landed"]
    print(f"landed {landed:,} interactions in {time.perf_counter() - t0:.0f}s", flush=True)
    full = child(args, data_dir, rows, DAY, True)
    noop = child(args, data_dir, rows, DAY, False)
    # one more night: a new ingest date lands the (same-seed) world again
    collect(settings, DAY + timedelta(days=1))
    nightly = child(args, data_dir, rows, DAY + timedelta(days=1), False)
    result = {"landed": landed, "full": full, "incremental_nothing_new": noop,
              "incremental_one_new_partition": nightly}
    for name in ("full", "incremental_nothing_new", "incremental_one_new_partition"):
        r = result[name]
        print(f"  {name:30s} {r['seconds']:7.1f}s  peak RSS {r['peak_rss_mb']:,} MB  "
              f"({r['partitions_loaded']} partition(s) loaded)", flush=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, action="append", help="interactions (repeatable)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-limit", default="3GB")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" /
                    "features_speed.json")
    ap.add_argument("--measure", nargs=4, help=argparse.SUPPRESS)  # internal: child process
    args = ap.parse_args()
    if args.measure:
        data_dir, rows, day, mode = args.measure
        print(json.dumps(measure(Path(data_dir), int(rows), args.threads, args.memory_limit,
                                 date.fromisoformat(day), mode == "full")))
        return
    sizes = args.rows or [1_000_000, 10_000_000]
    results = {}
    with tempfile.TemporaryDirectory(prefix="crossrec-bench-") as tmp:
        for rows in sizes:
            print(f"== {rows:,} interactions", flush=True)
            results[rows] = run_size(args, rows, Path(tmp))
    summary = {"machine": platform.platform(), "threads": args.threads,
               "memory_limit": args.memory_limit, "sizes": results}
    if len(sizes) == 2:
        (a, b) = sizes
        ra, rb = results[a], results[b]
        rows_ratio = rb["landed"] / ra["landed"]
        time_ratio = rb["full"]["seconds"] / ra["full"]["seconds"]
        summary["full_refresh_time_ratio"] = round(time_ratio, 2)
        summary["rows_ratio"] = round(rows_ratio, 2)
        print(f"full refresh: {rows_ratio:.1f}x the rows took {time_ratio:.1f}x the time "
              f"({'no worse than' if time_ratio <= rows_ratio else 'worse than'} linear)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
