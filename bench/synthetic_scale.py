"""Synthetic world at scale: seconds and peak RSS to stream ``--users`` users' interactions.

    .venv/bin/python bench/synthetic_scale.py --users 490000 --items 5000   # ~10M rows

Prints one line and writes ``bench/results/synthetic_scale.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crossrec.collect.sources import SyntheticSource  # noqa: E402
from crossrec.collect.synthetic import SyntheticWorld  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=490_000)
    ap.add_argument("--items", type=int, default=5_000)
    ap.add_argument("--mean-interactions", type=float, default=12.0)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" /
                    "synthetic_scale.json")
    args = ap.parse_args()
    cfg = SyntheticSource(n_users=args.users, n_items=args.items,
                          mean_interactions=args.mean_interactions)
    start = time.perf_counter()
    world = SyntheticWorld(cfg, "sport", "cloth")
    rows = sum(b.num_rows for b in world.interactions(date(2026, 11, 22)))
    seconds = time.perf_counter() - start
    result = {"users": args.users, "items": args.items, "rows": rows,
              "seconds": round(seconds, 1), "rows_per_s": round(rows / seconds),
              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    print(f"{rows:,} interactions in {seconds:.1f}s ({result['rows_per_s']:,} rows/s), "
          f"peak RSS {result['peak_rss_mb']:,} MB")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
