"""Where the cold-user headroom is on the real pairs, measured on cold *validation* users only.

Every signal the model ranks a cold user by (cross-domain cosine, the random walk, the
neighbouring users' target rows) is a statistic of *co-occurrence*: a target item only scores
if some training user bought it together with one of the cold user's source items. This script
counts how much of the cold users' held-out target items that can reach at all, and how far
two-hop evidence (source -> target -> target, source -> source -> target) lifts the rest:

- rankable: held-out items in the training catalogue (the others cost every method alike);
- co-occurring: rankable items with a non-zero cosine to one of the user's source items;
- for the items that do not co-occur, the share that the two-hop scores put in their top
  10 / 100 / 1,000 of the catalogue (pessimistic ties: a relevant item ranks after its ties);
- NDCG@10 of co-occurrence kNN, of an oracle that puts every co-occurring held-out item
  first (the ceiling of an exact order over co-occurrence evidence), and 1.10 x kNN (the bar
  where kNN is the best baseline; on phone<->sport EMCDR is, and the bar is higher);
- by evidence bin (the largest number of training users who bought the item together with one
  of the user's source items, and whether that pair is an exact *twin*: the same buyers on
  both sides among users with rows in both domains, which from two buyers on means one
  product listed in both domains): candidates and held-out items per user, and their ratio,
  the precision any order of that bin can have.

    .venv/bin/python bench/ceiling.py                         # every pair, both directions
    .venv/bin/python bench/ceiling.py --pairs sport_cloth --seeds 2

Collects and builds features like ``bench/quality.py`` (same split per seed) but trains
nothing: a few seconds per direction. Writes ``bench/results/ceiling.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from quality import DATA, DAY, directions, pair_settings  # noqa: E402  (bench/ is the script's folder)

SHRINK, NEIGHBOURS, HOP_NEIGHBOURS, BLOCK = 2.0, 5, 20, 512
CUTS = (10, 100, 1000)


def pessimistic_ranks(scores: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """1-based rank of each (row, col) entry in its row, after every item it ties with
    (other relevant items included: stricter than crossrec.metrics.ranking, which is moot for
    the items scored here, most of which score 0 with most of the catalogue)."""
    out = np.empty(len(rows), dtype=np.int64)
    for b in range(0, len(rows), 256):  # 256 full rows at a time bound the memory
        r, c = rows[b:b + 256], cols[b:b + 256]
        out[b:b + 256] = (scores[r] >= scores[r, c][:, None]).sum(axis=1)
    return out


BINS = ((1, 1), (2, 2), (3, 4), (5, None))
"""Ranges of the largest co-occurrence count (inclusive; None: no upper bound)."""


def exact_twins(xs: sp.csr_matrix, xt: sp.csr_matrix) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Co-occurrence counts of binary rows ``xs``/``xt`` and the pairs whose count equals
    both items' buyers among those rows (each bought by exactly the same of these users).

    With a count of 2 or more such a pair is nearly always one product listed in both
    domains; at count 1 it is mostly two single-buyer items that met by chance."""
    counts = (xs.T @ xt).tocsr()
    ns = np.asarray(xs.sum(axis=0)).ravel()
    nt = np.asarray(xt.sum(axis=0)).ravel()
    rows = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
    twin = counts.copy()
    twin.data = ((counts.data == ns[rows]) & (counts.data == nt[counts.indices])).astype(np.float32)
    twin.eliminate_zeros()
    return counts, twin


def headroom(data) -> dict:
    """Counts and NDCG@10 bounds over the cold validation users of one DomainData."""
    from crossrec.data.sparse import (
        SOURCE,
        TARGET,
        cosine_columns,
        domain_matrix,
        keep_top_per_row,
        largest_per_column,
        overlap_users,
        within_domain_cosine,
    )
    from crossrec.metrics.ranking import ranking_metrics

    source, target = domain_matrix(data, SOURCE), domain_matrix(data, TARGET)
    fit = overlap_users(source, target)
    cross = cosine_columns(source[fit], target[fit], SHRINK)
    knn = keep_top_per_row(cross, NEIGHBOURS)
    target_hop = within_domain_cosine(target[fit], HOP_NEIGHBOURS, SHRINK)
    # every user's source rows are training rows, cold users' included
    source_hop = within_domain_cosine(source, HOP_NEIGHBOURS, SHRINK)
    counts, twins = exact_twins(source[fit], target[fit])
    bins = np.zeros((len(BINS), 2, 2))  # bin, twin?, (candidates, held-out items)
    start = data.vocab.domain_ranges[TARGET][0]
    users = np.array(sorted(data.truth_sizes["cold_val"]), dtype=np.int64)
    empty = np.zeros(0, dtype=np.int64)
    held = rankable = cooc = 0
    reached = {name: np.zeros(len(CUTS), dtype=np.int64) for name in ("target_hop", "source_hop")}
    ndcg = {"knn": 0.0, "oracle": 0.0}
    for b in range(0, len(users), BLOCK):
        u = users[b:b + BLOCK]
        truth = [data.truth["cold_val"].get(int(x), empty) - start for x in u]
        sizes = np.array([data.truth_sizes["cold_val"][int(x)] for x in u])
        rows = np.repeat(np.arange(len(u)), [len(t) for t in truth])
        cols = np.concatenate(truth).astype(np.int64) if len(rows) else empty
        q = source[u]
        evidence = (q @ cross).toarray()
        linked = evidence[rows, cols] > 0
        held += int(sizes.sum())
        rankable += len(cols)
        cooc += int(linked.sum())
        for name, scores in (("target_hop", (q @ knn) @ target_hop),
                             ("source_hop", (q @ source_hop) @ knn)):
            ranks = pessimistic_ranks(scores.toarray(), rows[~linked], cols[~linked])
            reached[name] += [(ranks <= c).sum() for c in CUTS]
        largest = largest_per_column(q.tocsr(), counts)
        twin = (q @ twins).toarray() > 0
        relevant = np.zeros(evidence.shape, dtype=bool)
        relevant[rows, cols] = True
        for i, (low, high) in enumerate(BINS):
            inside = (largest >= low) & (largest <= (high if high is not None else np.inf))
            for j, flag in enumerate((False, True)):
                cell = inside & (twin == flag)
                bins[i, j] += (cell.sum(), (cell & relevant).sum())
        oracle = np.zeros_like(evidence)
        oracle[rows[linked], cols[linked]] = 1.0
        for name, scores in (("knn", (q @ knn).toarray()), ("oracle", oracle)):
            metrics = ranking_metrics(torch.from_numpy(scores), truth, sizes)
            ndcg[name] += float(metrics["ndcg@10"].sum())
    n, unlinked = len(users), max(rankable - cooc, 1)
    return {
        "users": n, "held_out_per_user": held / n, "rankable_per_user": rankable / n,
        "cooccurring_share_of_rankable": cooc / max(rankable, 1),
        **{f"{name}_reach_top{c}": int(reached[name][i]) / unlinked
           for name in reached for i, c in enumerate(CUTS)},
        "knn_ndcg@10": ndcg["knn"] / n, "oracle_ndcg@10": ndcg["oracle"] / n,
        "bar_ndcg@10": 1.10 * ndcg["knn"] / n,
        **{f"count{bin_label(low, high)}_{'twin' if j else 'other'}_{what}": value
           for i, (low, high) in enumerate(BINS) for j in (0, 1)
           for what, value in (("candidates_per_user", bins[i, j, 0] / n),
                               ("held_out_per_user", bins[i, j, 1] / n),
                               ("precision", bins[i, j, 1] / max(bins[i, j, 0], 1)))}}


def bin_label(low: int, high: int | None) -> str:
    return f"{low}+" if high is None else (f"{low}" if low == high else f"{low}-{high}")


def print_tables(out: dict) -> None:
    print("\n| direction | users | held out / rankable per user | co-occurring share | two-hop "
          "reach, top 1000 (via target / via source) | kNN | co-occurrence oracle | bar |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in out.items():
        print(f"| {name} | {r['users']:.0f} | {r['held_out_per_user']:.1f} / "
              f"{r['rankable_per_user']:.1f} | {r['cooccurring_share_of_rankable']:.3f} | "
              f"{r['target_hop_reach_top1000']:.4f} / {r['source_hop_reach_top1000']:.4f} | "
              f"{r['knn_ndcg@10']:.4f} | {r['oracle_ndcg@10']:.4f} | {r['bar_ndcg@10']:.4f} |")
    print("\nper user: candidates, held-out items among them (precision); "
          "bins of the largest co-occurrence count, exact twins apart")
    print("| direction | " + " | ".join(f"count {bin_label(*b)}, {kind}" for b in BINS
                                       for kind in ("other", "twin")) + " |")
    print("|---|" + "---|" * 2 * len(BINS))
    for name, r in out.items():
        cells = []
        for b in BINS:
            for kind in ("other", "twin"):
                key = f"count{bin_label(*b)}_{kind}"
                cells.append(f"{r[key + '_candidates_per_user']:.1f}, "
                             f"{r[key + '_held_out_per_user']:.2f} "
                             f"({r[key + '_precision']:.3f})")
        print(f"| {name} | " + " | ".join(cells) + " |")


def run_one(source: str, target: str, seed: int, tmp: Path) -> dict:
    from crossrec.evaluate.compare import build_marts

    settings = pair_settings(source, target, seed, 2, tmp)
    marts = build_marts(settings, DAY)
    return headroom(marts.load(settings.domains.source, settings.domains.target))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=1, help="how many split seeds")
    ap.add_argument("--pairs", nargs="*", help="pair folders, e.g. sport_cloth (default: all)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ceiling.json")
    args = ap.parse_args()
    if not DATA.is_dir():
        print(f"skipped: real data not found at {DATA} (see shared/data/README.md)")
        return
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for source, target in directions(DATA, args.pairs):
            runs = [run_one(source, target, seed, Path(tmp)) for seed in range(args.seeds)]
            out[f"{source}->{target}"] = {k: statistics.fmean(r[k] for r in runs)
                                           for k in runs[0]}
            print(f"{source}->{target} done", flush=True)
    print_tables(out)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"seeds": args.seeds, "directions": out}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
