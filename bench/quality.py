"""Cross-domain quality: our model vs the baselines on every real pair, both directions.

For each pair folder in ``../shared/data/amazon-disencdr`` (DisenCDR layout), each direction
and each seed (which also seeds the cold-user split), runs the whole evaluation protocol
(docs/architecture.md) through :func:`crossrec.evaluate.compare.compare`: collect, features,
the three training stages and the bundle's assembly, with model selection on the cold
*validation* users only, then every method on the cold *test* users. Prints method x
direction -> mean ± std and checks the bar (ours beats the best baseline by 10% on cold-test
NDCG@10, and never falls below popularity).

    .venv/bin/python bench/quality.py                       # 3 seeds, every pair and direction
    .venv/bin/python bench/quality.py --seeds 1 --pairs sport_cloth --ablations
    .venv/bin/python bench/quality.py --seeds 2 --first-seed 1 --merge seed0.json

Writes ``bench/results/quality.json`` after every run, so a long run keeps what it finished.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data" / "amazon-disencdr"
DAY = date(2026, 11, 22)
METRIC = "ndcg@10"
OURS = "crossrec"


def directions(folder: Path, pairs: list[str] | None) -> list[tuple[str, str]]:
    """(source, target) for both directions of every pair folder ``<a>_<b>``."""
    found = sorted(p.name for p in folder.iterdir() if p.is_dir() and "_" in p.name)
    wanted = set(pairs) if pairs else None
    out = []
    for name in found:
        a, b = name.split("_", 1)
        if wanted is None or name in wanted or f"{b}_{a}" in wanted:
            out.append((a, b))
    return out


def pair_settings(source: str, target: str, seed: int, threads: int, tmp: Path,
                  overrides: dict | None = None):
    """Settings of one direction and seed of a real pair, with its own data folder;
    ``overrides``: more settings per section (``--set``), e.g. a lever being measured."""
    from crossrec.config import Settings

    raw = {"data_dir": str(tmp / f"{source}-{target}-{seed}"),
           "domains": {"source": source, "target": target},
           "sources": [{"kind": "disencdr", "path": str(DATA)}],
           "split": {"seed": seed},
           "validation": {"min_rows": 1000},
           "run": {"seed": seed, "threads": threads, "progress": False}}
    for section, values in (overrides or {}).items():
        raw[section] = {**raw.get(section, {}), **values}
    return Settings.model_validate(raw)


def run_one(source: str, target: str, seed: int, args, tmp: Path) -> tuple[list[dict], dict]:
    """Every method's rows, and what model selection chose for our model (its fusion.json
    without the per-candidate scores)."""
    from crossrec.bundle.bundle import FUSION
    from crossrec.evaluate.compare import compare, compare_dir

    settings = pair_settings(source, target, seed, args.threads, tmp, args.set)
    rows = compare(settings, DAY, ablations=args.ablations)
    shipped = compare_dir(settings, DAY) / "crossrec" / "bundle"
    paths = list(shipped.glob(f"*/{FUSION}"))  # the one bundle assembled
    if len(paths) > 1:
        raise RuntimeError(f"more than one bundle under {shipped}: {paths}")
    chosen = json.loads(paths[0].read_text()) if paths else {}  # none: [bundle] graph = false
    return rows, {k: v for k, v in chosen.items() if not k.endswith("_tried")}


def cold_test_rows(runs: list[dict]):
    """(direction, row) of every cold-test row of every run."""
    for run in runs:
        for row in run["rows"]:
            if row["role"] == "cold_test":
                yield run["direction"], row


def summarise(runs: list[dict]) -> dict:
    """direction -> method -> metric -> {mean, std, n} over seeds, on cold_test rows."""
    acc: dict = {}
    for direction, row in cold_test_rows(runs):
        per = acc.setdefault(direction, {}).setdefault(row["method"], {})
        for metric in ("ndcg@10", "recall@20", "hr@10", "mrr"):
            per.setdefault(metric, []).append(row[metric])
    return {d: {m: {k: {"mean": statistics.fmean(v),
                        "std": statistics.stdev(v) if len(v) > 1 else 0.0, "n": len(v)}
                    for k, v in metrics.items()} for m, metrics in methods.items()}
            for d, methods in acc.items()}


def summarise_activity(runs: list[dict]) -> dict:
    """direction -> method -> activity bucket -> {ndcg@10 mean over seeds, users per seed}."""
    acc: dict = {}
    for direction, row in cold_test_rows(runs):
        per = acc.setdefault(direction, {}).setdefault(row["method"], {})
        for label, cell in row.get("by_activity", {}).items():
            per.setdefault(label, []).append((cell[METRIC], cell["users"]))
    return {d: {m: {b: {"mean": statistics.fmean(v for v, _ in cells),
                        "users": statistics.fmean(n for _, n in cells)}
                    for b, cells in buckets.items()} for m, buckets in methods.items()}
            for d, methods in acc.items()}


def print_activity(activity: dict, bars: dict) -> None:
    """Ours vs the direction's best baseline per bucket of the users' source items."""
    print(f"\ncold-test {METRIC} by the user's distinct source items: ours / best baseline "
          "(mean users per seed)")
    for direction, b in bars.items():
        ours, best = activity[direction][OURS], activity[direction][b["best_baseline"]]
        cells = [f"{label}: {ours[label]['mean']:.4f} / {best[label]['mean']:.4f} "
                 f"({ours[label]['users']:.0f})" for label in ours if label in best]
        print(f"{direction} vs {b['best_baseline']}: " + "; ".join(cells))


def bar(summary: dict) -> dict:
    """Per direction: ours, the best baseline, the ratio, and whether the bar is met."""
    out = {}
    for direction, methods in summary.items():
        if OURS not in methods:
            continue
        ours = methods[OURS][METRIC]["mean"]
        baselines = {m: v[METRIC]["mean"] for m, v in methods.items() if not m.startswith(OURS)}
        best = max(baselines, key=baselines.get)
        out[direction] = {"ours": ours, "best_baseline": best, "best": baselines[best],
                          "ratio": ours / baselines[best] if baselines[best] else float("inf"),
                          "popularity": baselines.get("popularity"),
                          "met": ours >= 1.10 * baselines[best]
                          and ours >= baselines.get("popularity", 0.0)}
    return out


def print_table(summary: dict) -> None:
    dirs = list(summary)
    methods = list(dict.fromkeys(m for d in dirs for m in summary[d]))
    print(f"\ncold-test {METRIC}, mean ± std over seeds")
    print("| method | " + " | ".join(dirs) + " |")
    print("|---|" + "---|" * len(dirs))
    for m in methods:
        cells = []
        for d in dirs:
            v = summary[d].get(m, {}).get(METRIC)
            cells.append(f"{v['mean']:.4f} ± {v['std']:.4f}" if v else "-")
        print(f"| {m} | " + " | ".join(cells) + " |")


def write(out: Path, runs: list[dict], threads: int) -> tuple[dict, dict]:
    """Summaries of ``runs`` plus the runs themselves, as JSON at ``out``; returns the
    summary and the per-activity summary."""
    summary, activity = summarise(runs), summarise_activity(runs)
    out.write_text(json.dumps({"machine": platform.platform(), "threads": threads,
                               "summary": summary, "bar": bar(summary),
                               "by_activity": activity, "runs": runs}, indent=2) + "\n")
    return summary, activity


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3,
                    help="how many seeds (split and training); 0 re-summarises --merge")
    ap.add_argument("--first-seed", type=int, default=0,
                    help="seeds first..first+N-1 (to spread the seeds over several runs)")
    ap.add_argument("--merge", type=Path, nargs="*", default=[],
                    help="earlier output JSONs whose runs join this run's summary")
    ap.add_argument("--pairs", nargs="*", help="pair folders, e.g. sport_cloth (default: all)")
    ap.add_argument("--ablations", action="store_true", help="also retrain the ablations")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--set", type=json.loads, default={},
                    help='settings overrides per section as JSON, e.g. \'{"model": {"init": '
                         '"als"}}\' (recorded with each run)')
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "quality.json")
    args = ap.parse_args()
    if not DATA.is_dir():
        print(f"skipped: real data not found at {DATA} (see shared/data/README.md)")
        return
    logging.basicConfig(level=logging.WARNING)
    runs: list[dict] = [r for f in args.merge for r in json.loads(f.read_text())["runs"]]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="crossrec-quality-") as tmp:
        for source, target in directions(DATA, args.pairs):
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                t0 = time.perf_counter()
                rows, fusion = run_one(source, target, seed, args, Path(tmp))
                seconds = time.perf_counter() - t0
                runs.append({"direction": f"{source}->{target}", "seed": seed,
                             "seconds": round(seconds, 1), "rows": rows, "fusion": fusion,
                             "overrides": args.set})
                ours = next(r for r in rows if r["method"] == OURS and r["role"] == "cold_test")
                print(f"{source}->{target} seed {seed}: ours {METRIC} {ours[METRIC]:.4f} "
                      f"({seconds:.0f}s; graph {fusion.get('graph')} prior "
                      f"{fusion.get('popularity')} weight {fusion.get('weight')}, reranker "
                      f"{fusion.get('rerank', {}).get('used')})", flush=True)
                write(args.out, runs, args.threads)
    summary, activity = write(args.out, runs, args.threads)
    print_table(summary)
    print_activity(activity, bar(summary))
    for direction, b in bar(summary).items():
        verdict = "meets" if b["met"] else "MISSES"
        print(f"{direction}: ours {b['ours']:.4f} vs {b['best_baseline']} {b['best']:.4f} "
              f"({b['ratio']:.2f}x) {verdict} the bar")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
