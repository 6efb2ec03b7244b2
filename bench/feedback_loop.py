"""The feedback loop, closed on the synthetic world: N simulated nights of
recommend -> users click (simulated from the world's ground truth) -> ingest -> retrain.

Each night runs the real nightly flow (which first ingests the previous night's click log),
then the click simulator reacts to two policies shown to the same users:

- ``crossrec``: the lists the flow published (these clicks are ingested the next night);
- ``popularity``: the most popular target items each user does not have (measured only).

Prints CTR (clicks per impression) and purchases per impression by night for both, writes
``bench/results/feedback_loop.json`` and the curve ``bench/results/feedback_loop.png``.

    .venv/bin/python bench/feedback_loop.py --nights 5
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

START = date(2026, 11, 1)


def settings_for(folder: Path, args: argparse.Namespace):
    from crossrec.config import Settings

    return Settings.model_validate({
        "data_dir": str(folder / "data"),
        "sources": [{"kind": "synthetic", "n_users": args.users, "n_items": args.items,
                     "seed": args.seed}],
        "model": {"dim": 32},
        "train": {"pretrain_epochs": args.epochs, "adapt_epochs": args.epochs,
                  "finetune_epochs": args.epochs},
        "score": {"top_n": args.top_n, "explain": 0},
        "run": {"progress": False, "threads": args.threads, "seed": args.seed},
    })


def popularity_lists(settings, marts_dir: Path, k: int):
    """The popularity policy's lists for every user, as a recommendations-like table."""
    import numpy as np
    import pyarrow as pa

    from crossrec.data.domain import load_domain_data
    from crossrec.evaluate.baselines.popularity import Popularity

    data = load_domain_data(marts_dir / "mart_interactions.parquet",
                            marts_dir / "mart_eval_split.parquet",
                            settings.domains.source, settings.domains.target)
    users = np.arange(len(data.users))
    cols, _ = Popularity(data).recommend(users, k, exclude=True, which="all")
    start = data.vocab.domain_ranges[1][0]
    valid = cols >= 0
    return pa.table({
        "user_id": data.users[np.repeat(users, k).reshape(len(users), k)[valid]].tolist(),
        "item_id": data.vocab.item_ids[cols[valid] + start].tolist(),
        "rank": np.tile(np.arange(1, k + 1, dtype=np.int16), (len(users), 1))[valid],
        "model_version": ["popularity"] * int(valid.sum()),
    })


def rates(day) -> dict:
    counts = day.expected_counts
    shown = max(counts["impression"], 1)
    return {"impressions": counts["impression"], "clicks": counts["click"],
            "purchases": counts["purchase"], "ctr": counts["click"] / shown,
            "purchase_rate": counts["purchase"] / shown}


def plot(nights: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.5))
    ax = fig.subplots()
    x = [n["night"] for n in nights]
    for policy in ("crossrec", "popularity"):
        ax.plot(x, [n[policy]["ctr"] for n in nights], marker="o", label=policy)
    ax.set_xlabel("night")
    ax.set_ylabel("CTR (clicks / impression)")
    ax.set_title("Feedback loop on the synthetic world")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nights", type=int, default=5)
    p.add_argument("--users", type=int, default=3000)
    p.add_argument("--items", type=int, default=300)
    p.add_argument("--top-n", type=int, default=10)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "feedback_loop.json")
    args = p.parse_args()

    import pyarrow.parquet as pq
    from prefect.testing.utilities import prefect_test_harness

    from crossrec.clicks.ingest import click_paths
    from crossrec.collect.clicksim import ClickSimConfig, simulate, write_jsonl
    from crossrec.collect.synthetic import SyntheticWorld
    from flows.nightly import nightly

    nights = []
    with tempfile.TemporaryDirectory() as tmp, prefect_test_harness(server_startup_timeout=300):
        settings = settings_for(Path(tmp), args)
        world = SyntheticWorld(settings.sources[0], settings.domains.source,
                               settings.domains.target)
        sim = ClickSimConfig(seed=args.seed)
        for night in range(args.nights):
            day = START + timedelta(days=night)
            t0 = time.perf_counter()
            out = nightly(run_date=day, settings=settings)
            ours = pq.read_table(sorted(Path(out["recommendations"]).iterdir()))
            pop = popularity_lists(settings, Path(out["marts"]), args.top_n)
            # the lists published by tonight's run are used (and clicked) during the day
            clicks = simulate(world, ours, day, day, sim)
            baseline = simulate(world, pop, day, day, sim)
            # tomorrow night's flow ingests this day's log before it trains
            write_jsonl(clicks, click_paths(settings, day).drop / "clicks.jsonl")
            with (Path(out["metrics"])).open() as fh:
                metrics = json.load(fh)
            row = {"night": night + 1, "run_date": day.isoformat(), "crossrec": rates(clicks),
                   "popularity": rates(baseline), "seconds": round(time.perf_counter() - t0, 1),
                   "cold_test_ndcg10": _ours_ndcg(metrics)}
            nights.append(row)
            print(f"night {row['night']}: CTR crossrec {row['crossrec']['ctr']:.4f} vs "
                  f"popularity {row['popularity']['ctr']:.4f}; purchases/impression "
                  f"{row['crossrec']['purchase_rate']:.4f} vs "
                  f"{row['popularity']['purchase_rate']:.4f} ({row['seconds']} s)", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {"config": {k: (str(v) if isinstance(v, Path) else v)
                         for k, v in vars(args).items()}, "nights": nights}
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    png = args.out.with_suffix(".png")
    plot(nights, png)
    print(f"wrote {args.out} and {png}")


def _ours_ndcg(metrics) -> float | None:
    rows = metrics if isinstance(metrics, list) else metrics.get("rows", [])
    for r in rows:
        if r.get("method") == "crossrec" and r.get("role") == "cold_test":
            return r.get("ndcg@10")
    return None


if __name__ == "__main__":
    main()
