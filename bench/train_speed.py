"""Training speed: examples/second of each stage (pretrain, adapt, finetune) on the CPU.

Lands a synthetic world of about ``--rows`` interactions per size, builds the features, then
times one epoch of each stage at the default model size with ``--threads`` torch threads
(2 by default). With two sizes it prints how epoch time grows (the goal is linear).

    .venv/bin/python bench/train_speed.py                               # 1M and 10M
    .venv/bin/python bench/train_speed.py --rows 1000000 --device cuda  # on a GPU

Prints a table and writes ``bench/results/train_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DAY = date(2026, 11, 22)
ROWS_PER_USER = 20.4  # synthetic default: (2 * overlap + (1 - overlap)) * mean_interactions


def run_size(rows: int, folder: Path, args: argparse.Namespace) -> dict:
    import torch

    from crossrec.collect.collector import collect
    from crossrec.config import Settings
    from crossrec.data.marts import MartPaths
    from crossrec.features.build import build_features
    from crossrec.train.adapt import AdaptTrainer
    from crossrec.train.attributes import load_item_attributes
    from crossrec.train.finetune import FinetuneTrainer
    from crossrec.train.pretrain import PretrainTrainer
    from crossrec.train.stages import new_model

    settings = Settings.model_validate({
        "data_dir": str(folder / f"d{rows}"),
        "sources": [{"kind": "synthetic", "n_users": max(int(rows / ROWS_PER_USER), 100),
                     "n_items": args.items}],
        "features": {"threads": args.threads},
        "run": {"threads": args.threads, "device": args.device, "progress": False}})
    collect(settings, DAY)
    build = build_features(settings, DAY)
    marts = MartPaths.from_exports(build.exports)
    t0 = time.perf_counter()
    data = marts.load(settings.domains.source, settings.domains.target)
    load_s = time.perf_counter() - t0
    model = new_model(settings, data, load_item_attributes(marts.item_features, data.vocab))
    out = {"interactions": build.row_counts["stg_interactions"], "load_s": round(load_s, 1),
           "items": data.vocab.n_items, "stages": {}}
    print(f"== {out['interactions']:,} interactions, {out['items']:,} items "
          f"(load {load_s:.1f}s)", flush=True)
    for cls in (PretrainTrainer, AdaptTrainer, FinetuneTrainer):
        trainer = cls(model, data, settings.train, settings.model, settings.run)
        if trainer.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
            torch.cuda.synchronize()
        start = time.perf_counter()
        trainer.train_epoch(0, 1)
        if trainer.device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        n = len(trainer.users)
        stage = {"examples": n, "epoch_s": round(seconds, 2), "examples_per_s": round(n / seconds),
                 "device": trainer.device}
        if trainer.device == "cuda":
            stage["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
        out["stages"][cls.stage] = stage
        print(f"  {cls.stage:9s} {n:>10,} examples  {seconds:7.1f}s  "
              f"{stage['examples_per_s']:>8,} ex/s", flush=True)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, action="append", help="interactions (repeatable)")
    ap.add_argument("--items", type=int, default=5000, help="items per domain")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "train_speed.json")
    args = ap.parse_args()
    sizes = args.rows or [1_000_000, 10_000_000]
    results = {}
    with tempfile.TemporaryDirectory(prefix="crossrec-bench-") as tmp:
        for rows in sizes:
            results[rows] = run_size(rows, Path(tmp), args)
    summary = {"machine": platform.platform(), "threads": args.threads, "device": args.device,
               "sizes": results}
    if len(sizes) == 2:
        a, b = (results[s] for s in sizes)
        for stage in a["stages"]:
            ratio = b["stages"][stage]["epoch_s"] / a["stages"][stage]["epoch_s"]
            examples = b["stages"][stage]["examples"] / a["stages"][stage]["examples"]
            summary.setdefault("epoch_time_ratio", {})[stage] = round(ratio, 2)
            print(f"{stage}: {examples:.1f}x the examples took {ratio:.1f}x the epoch time")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
