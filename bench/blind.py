"""Blind benchmark: crossrec as a user meets it, judged on rows it never saw.

For every pair folder in ``../shared/data/amazon-disencdr``, both directions, and each seed:

1. all rows of both domains (``train.txt`` + ``test_original.txt``) become one plain CSV,
   ``user_id,item_id,domain,rating`` with the dataset's own bare numeric ids;
2. a seeded 20% of the users present in both domains are *hidden*: their target rows are
   removed from that file (kept aside as the truth);
3. ``crossrec run --config`` runs in a fresh process exactly as a user would (the product
   makes its own internal split, selects on its own validation users and publishes);
4. the **published Parquet** is read back and scored on the hidden users against their
   hidden target rows: NDCG@10 (binary gains), Recall@20 (hits / hidden rows), HR@10 and
   MRR (first hit within the list, else 0), means over hidden users;
5. the baselines (``crossrec/evaluate/methods.py``) are fitted on the same input the way
   crossrec is: a tuned one picks its hyper-parameters on the run's own marts (the same
   training split and cold validation users crossrec selects on, never the hidden users),
   then every baseline is fitted on every row of the input (``refit_factory``), as
   crossrec refits; their top-20 lists are scored the same way.

A hidden user is scored only if at least one hidden item appears in the input (no method can
recommend an item nobody else has); the count of such users is printed. Prints method x
direction -> mean ± std over seeds and writes ``bench/results/blind.json`` after every run:

    .venv/bin/python bench/blind.py                                  # every pair, 3 seeds
    .venv/bin/python bench/blind.py --seeds 1 --pairs sport_phone    # one pair, both ways
    .venv/bin/python bench/blind.py --bridge-share 0.1               # few users in both domains
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from quality import DATA, DAY, directions  # noqa: E402  (bench/ is the script's folder)

HIDDEN_SHARE = 0.2
TOP_N = 20
METRICS = ("ndcg@10", "recall@20", "hr@10", "mrr")
OURS = "crossrec"


def read_domain(source: str, target: str, domain: str) -> dict[str, list[str]]:
    """user -> items of ``domain`` in the (source, target) pair, every file, in file order."""
    other = target if domain == source else source
    rows: dict[str, list[str]] = {}
    for name in ("train.txt", "test_original.txt"):
        path = DATA / f"{domain}_{other}" / name
        with path.open() as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 2:
                    rows.setdefault(parts[0], []).append(parts[1])
    return rows


def single_domain_users(both: list[str], hidden: set[str], bridge_share: float, seed: int
                        ) -> tuple[set[str], set[str]]:
    """Users whose target rows / source rows leave the input so that only ``bridge_share`` of
    the visible users present in both domains stay in both; the rest split in halves, one
    keeping only source rows, the other only target rows. It gives the shape of data with few
    users in both domains and many in one, from pairs where every user is in both. Drawn from
    its own generator, so the hidden users are the same for every share."""
    if bridge_share >= 1.0:
        return set(), set()
    visible = [u for u in both if u not in hidden]
    rng = random.Random(f"bridge-{seed}")
    rng.shuffle(visible)
    single = visible[round(bridge_share * len(visible)):]
    half = len(single) // 2
    return set(single[:half]), set(single[half:])


def make_input(source: str, target: str, seed: int, folder: Path, bridge_share: float = 1.0
               ) -> tuple[Path, dict[str, set[str]]]:
    """The user's CSV with the hidden users' target rows left out; returns it and the truth
    (hidden user -> their target items). ``bridge_share`` < 1 also makes most visible users
    single-domain (:func:`single_domain_users`)."""
    src, tgt = read_domain(source, target, source), read_domain(source, target, target)
    both = sorted(set(src) & set(tgt))
    hidden = set(random.Random(seed).sample(both, round(HIDDEN_SHARE * len(both))))
    source_only, target_only = single_domain_users(both, hidden, bridge_share, seed)
    path = folder / "interactions.csv"
    with path.open("w") as fh:
        fh.write("user_id,item_id,domain,rating\n")
        for domain, rows in ((source, src), (target, tgt)):
            for user, items in rows.items():
                if domain == target and (user in hidden or user in source_only):
                    continue
                if domain == source and user in target_only:
                    continue
                for item in dict.fromkeys(items):
                    fh.write(f"{user},{item},{domain},1\n")
    return path, {u: set(tgt[u]) for u in hidden}


def toml_sections(overrides: dict[str, dict]) -> str:
    """``{"model": {"dim": 256}}`` -> ``[model]\ndim = 256``: JSON scalars and strings are
    valid TOML values (a setting under test, never data)."""
    out = []
    for section, values in overrides.items():
        out.append(f"\n[{section}]")
        out.extend(f"{key} = {json.dumps(value)}" for key, value in values.items())
    return "\n".join(out) + "\n" if out else ""


def write_config(folder: Path, csv_path: Path, source: str, target: str, seed: int,
                 threads: int, overrides: dict[str, dict] | None = None) -> Path:
    """The bring-your-own-data config of the README, nothing tuned to this data;
    ``overrides`` (``--set``) adds settings sections to measure a lever, never ``run``."""
    overrides = overrides or {}
    if {"run", "split", "score", "domains"} & set(overrides):
        raise ValueError("--set may not change run, split, score or domains: the protocol's")
    path = folder / "crossrec.toml"
    path.write_text(f"""data_dir = "data"

[domains]
source = "{source}"
target = "{target}"

[[sources]]
kind = "csv"
path = "{csv_path.name}"
columns = {{ user_id = "user_id", item_id = "item_id", domain = "domain", rating = "rating" }}

[split]
seed = {seed}

[score]
top_n = {TOP_N}

[run]
seed = {seed}
threads = {threads}
progress = false
""" + toml_sections(overrides))
    return path


def run_crossrec(config: Path, log: Path) -> float:
    """``crossrec run`` in its own process, as a user runs it; returns its wall time."""
    env = {**os.environ, "PREFECT_HOME": str(config.parent / "prefect")}
    t0 = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.run([sys.executable, "-m", "crossrec.cli", "run", "--config",
                               str(config), "--date", DAY.isoformat()], cwd=ROOT, env=env,
                              stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode:
        raise RuntimeError(f"crossrec run failed ({proc.returncode}); see {log}:\n"
                           + "\n".join(log.read_text().splitlines()[-15:]))
    return time.perf_counter() - t0


def published_lists(data_dir: Path, target: str) -> dict[str, list[str]]:
    """user -> published item ids in rank order, read from the lake as a consumer would;
    empty when the run published nothing (its gate rejected a first model): the user got no
    recommendations, which is what is scored."""
    import pyarrow.parquet as pq

    folder = data_dir / "lake" / "recommendations" / f"run_date={DAY}" / f"domain={target}"
    if not folder.is_dir():
        return {}
    table = pq.read_table(folder, columns=["user_id", "rank", "item_id"]).sort_by(
        [("user_id", "ascending"), ("rank", "ascending")])
    out: dict[str, list[str]] = {}
    for user, item in zip(table["user_id"].to_pylist(), table["item_id"].to_pylist(),
                          strict=True):
        out.setdefault(user, []).append(item)
    return out


def shipped_choices(data_dir: Path) -> dict:
    """What the published champion chose (its metrics' ``fusion`` record): the item graph,
    the popularity prior, the fusion weight and whether the reranker ships; empty when no
    champion exists."""
    from crossrec.layout import Layout
    from crossrec.registry import read_registry

    layout = Layout(data_dir)
    champion = read_registry(layout.models).champion
    if champion is None:
        return {}
    fusion = json.loads((layout.model(champion) / "metrics.json").read_text()).get("fusion")
    if not fusion:
        return {"graph": None}
    return {"graph": fusion.get("graph"), "popularity": fusion.get("popularity"),
            "weight": fusion.get("weight"), "reranker": fusion.get("rerank", {}).get("used")}


def score_lists(lists: dict[str, list[str]], truth: dict[str, set[str]]) -> dict[str, float]:
    """Mean metrics over the truth's users (a user without a list scores 0)."""
    acc = {m: 0.0 for m in METRICS}
    for user, items in truth.items():
        ranked = lists.get(user, [])
        hits = [i for i, item in enumerate(ranked) if item in items]
        dcg = sum(1 / math.log2(i + 2) for i in hits if i < 10)
        ideal = sum(1 / math.log2(i + 2) for i in range(min(len(items), 10)))
        acc["ndcg@10"] += dcg / ideal
        acc["recall@20"] += sum(1 for i in hits if i < 20) / len(items)
        acc["hr@10"] += float(any(i < 10 for i in hits))
        acc["mrr"] += 1 / (hits[0] + 1) if hits else 0.0
    return {m: v / max(len(truth), 1) for m, v in acc.items()}


def baseline_lists(data_dir: Path, source: str, target: str, threads: int, seed: int,
                   users: list[str]) -> dict[str, tuple[dict[str, list[str]], float]]:
    """Each baseline's top-N for ``users``, the user's ids as they came in. Like the product,
    a baseline is tuned on the run's own marts (their cold validation users) and then refit
    with what it chose on every row of the same input."""
    import numpy as np

    from crossrec.config import Settings
    from crossrec.data.marts import MartPaths
    from crossrec.evaluate.methods import TUNED_ARGS, baseline_factories, refit_factory
    from crossrec.layout import Layout
    from crossrec.schemas import local_ids

    marts = MartPaths.from_dir(Layout(data_dir).marts_partition(DAY))
    held = marts.load(source, target)
    data = marts.load(source, target, every_row=True)
    index = {u: i for i, u in enumerate(data.users)}
    rows = np.array([index[u] for u in users if u in index], dtype=np.int64)
    names = np.asarray(local_ids(list(data.vocab.item_ids[1:])), dtype=object)
    start = data.vocab.domain_ranges[1][0]
    settings = Settings.model_validate({"run": {"seed": seed, "threads": threads}})
    out = {}
    for name, factory in baseline_factories(settings).items():
        t0 = time.perf_counter()
        chosen = getattr(factory(held), "chosen", None) if name in TUNED_ARGS else None
        rec = refit_factory(settings, name, chosen)(data)
        cols, _ = rec.recommend(rows, TOP_N, exclude=True, which="all")
        lists = {data.users[u]: [names[c + start - 1] for c in row if c >= 0]
                 for u, row in zip(rows, cols, strict=True)}
        out[name] = (lists, time.perf_counter() - t0)
    return out


def run_one(source: str, target: str, seed: int, threads: int, tmp: Path,
            overrides: dict[str, dict] | None = None, bridge_share: float = 1.0) -> dict:
    folder = tmp / f"{source}-{target}-{seed}"
    folder.mkdir(parents=True)
    csv_path, truth = make_input(source, target, seed, folder, bridge_share)
    config = write_config(folder, csv_path, source, target, seed, threads, overrides)
    seconds = run_crossrec(config, folder / "run.log")
    data_dir = folder / "data"
    catalogue = set()
    with csv_path.open() as fh:
        next(fh)
        for line in fh:
            _, item, domain, _ = line.rstrip("\n").split(",")
            if domain == target:
                catalogue.add(item)
    scored = {u: items & catalogue for u, items in truth.items() if items & catalogue}
    published = published_lists(data_dir, target)
    rows = [{"method": OURS, **score_lists(published, scored), "seconds": round(seconds, 1),
             "published": bool(published), "shipped": shipped_choices(data_dir)}]
    for name, (lists, fit_s) in baseline_lists(data_dir, source, target, threads, seed,
                                               sorted(scored)).items():
        rows.append({"method": name, **score_lists(lists, scored), "seconds": round(fit_s, 1)})
    return {"direction": f"{source}->{target}", "seed": seed, "hidden_users": len(truth),
            "scored_users": len(scored), "overrides": overrides or {},
            "bridge_share": bridge_share, "rows": rows}


def summarise(runs: list[dict]) -> dict:
    acc: dict = {}
    for run in runs:
        for row in run["rows"]:
            per = acc.setdefault(run["direction"], {}).setdefault(row["method"], {})
            for m in METRICS:
                per.setdefault(m, []).append(row[m])
    return {d: {meth: {m: {"mean": statistics.fmean(v),
                           "std": statistics.stdev(v) if len(v) > 1 else 0.0, "n": len(v)}
                       for m, v in ms.items()} for meth, ms in methods.items()}
            for d, methods in acc.items()}


def print_table(summary: dict, metric: str = "ndcg@10") -> None:
    dirs = list(summary)
    methods = list(dict.fromkeys(m for d in dirs for m in summary[d]))
    print(f"\nblind hidden-user {metric}, mean ± std over seeds")
    print("| method | " + " | ".join(dirs) + " |")
    print("|---|" + "---|" * len(dirs))
    for m in methods:
        cells = [f"{summary[d][m][metric]['mean']:.4f} ± {summary[d][m][metric]['std']:.4f}"
                 if m in summary[d] else "-" for d in dirs]
        print(f"| {m} | " + " | ".join(cells) + " |")
    for d in dirs:
        base = {m: v[metric]["mean"] for m, v in summary[d].items() if m != OURS}
        best = max(base, key=base.get)
        ours = summary[d][OURS][metric]["mean"]
        print(f"{d}: crossrec {ours:.4f} vs best baseline {best} {base[best]:.4f} "
              f"({ours / base[best]:.2f}x)" if base[best] else f"{d}: no baseline scored")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--pairs", nargs="*", help="pair folders, e.g. sport_cloth (default: all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--merge", type=Path, nargs="*", default=[],
                    help="earlier output JSONs whose runs join this run's summary")
    ap.add_argument("--set", type=json.loads, default={},
                    help='settings sections added to the user\'s config, as JSON, e.g. '
                         '\'{"model": {"init": "als"}}\' (recorded with each run)')
    ap.add_argument("--bridge-share", type=float, default=1.0,
                    help="share of the visible users in both domains that stay in both; the "
                         "rest keep one domain each (data with few bridge users)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "blind.json")
    args = ap.parse_args()
    if not 0.0 < args.bridge_share <= 1.0:
        ap.error("--bridge-share must be in (0, 1]")
    if not DATA.is_dir():
        print(f"skipped: real data not found at {DATA} (see shared/data/README.md)")
        return
    runs: list[dict] = [r for f in args.merge for r in json.loads(f.read_text())["runs"]]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="crossrec-blind-") as tmp:
        for source, target in directions(DATA, args.pairs):
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                run = run_one(source, target, seed, args.threads, Path(tmp), args.set,
                              args.bridge_share)
                runs.append(run)
                ours = run["rows"][0]
                print(f"{run['direction']} seed {seed}: crossrec ndcg@10 {ours['ndcg@10']:.4f} "
                      f"({ours['seconds']:.0f}s, {run['scored_users']} of "
                      f"{run['hidden_users']} hidden users scored"
                      + ("" if ours["published"] else "; NOTHING PUBLISHED: gate rejected")
                      + f"; shipped {ours['shipped']})", flush=True)
                args.out.write_text(json.dumps(
                    {"machine": platform.platform(), "threads": args.threads,
                     "summary": summarise(runs), "runs": runs}, indent=2) + "\n")
    print_table(summarise(runs))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
