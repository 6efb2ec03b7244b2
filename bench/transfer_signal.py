"""Does a learned low-rank score tell the cold-user ranking anything the co-occurrence
statistics do not? Measured on cold *validation* users only.

The shipped ranking of a cold user is the reranker's (``crossrec.train.rerank``): a network
over co-occurrence statistics, trained on pseudo-cold users whose target rows each fold's
statistics did not see. A learned model's score can be one of its features only if it is
computed the same way, out of fold: the two-tower model trains on the pseudo-cold users'
target rows and would leak them. The score measured here is joint ALS (the two-tower's
``[model] init = "als"`` start, which its training does not improve for cold users) fitted
per fold on every user's source rows and the *other* folds' target rows, so the fold's users
are cold users of that fit, as the validation users are of the fit on every row.

For each direction (a split seed each), cold-validation NDCG@10 of

- ``lowrank``: the low-rank score alone;
- ``reranker``: the reranker on the statistics, as shipped (100 candidates, same seed);
- ``reranker+lowrank``: the same with the low-rank score (z-scored per user) and its rank in
  the catalogue as two more features;

and the share of validation users with a held-out item among the reranker's candidates, the
low-rank top 100, and their union (how much a learned score could still reach).

    .venv/bin/python bench/transfer_signal.py                 # every pair, both directions
    .venv/bin/python bench/transfer_signal.py --pairs sport_cloth --factors 256

Writes ``bench/results/transfer_signal.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from quality import DATA, DAY, directions, pair_settings  # noqa: E402  (bench/ is the script's folder)

BLOCK = 256
"""Users per block: each holds a few dense (users x target catalogue) arrays."""
LOWRANK = ("lowrank_z", "lowrank_rank")


def lowrank_factors(source: sp.csr_matrix, target: sp.csr_matrix, fit: np.ndarray,
                    factors: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """User factors (every user) and target item factors of joint ALS over every user's
    source rows and the target rows of users ``fit`` only."""
    from crossrec.models.als import ALSParams, fit_als

    keep = np.zeros(target.shape[0], dtype=np.float32)
    keep[fit] = 1.0
    union = sp.hstack([source, sp.diags(keep) @ target]).tocsr()
    users, items = fit_als(union, ALSParams(factors=factors, threads=2), seed)
    return users, items[source.shape[1]:]


def with_lowrank(cand: np.ndarray, x: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """The candidate features ``x`` plus the low-rank score, standardised per user (its scale
    differs between fits), and log(1 + its rank in the whole catalogue)."""
    from crossrec.models.reranker import row_ranks

    v = np.take_along_axis(scores, cand, axis=1)
    z = (v - v.mean(axis=1, keepdims=True)) / (v.std(axis=1, keepdims=True) + 1e-6)
    rank = np.log1p(np.take_along_axis(row_ranks(scores), cand, axis=1))
    return np.concatenate([x, z[..., None], rank[..., None]], axis=-1).astype(np.float32)


def tables(source, target, folds: int, factors: int, seed: int, config) -> dict:
    """Pseudo-cold training tables (features, labels) without and with the low-rank score,
    each fold's statistics and low-rank fit blind to the fold's target rows."""
    from crossrec.models.cold_signals import ColdSignals
    from crossrec.models.reranker import candidate_table

    both = np.flatnonzero((source.getnnz(axis=1) > 0) & (target.getnnz(axis=1) > 0))
    out: dict = {"reranker": ([], []), "reranker+lowrank": ([], [])}
    rng = np.random.default_rng(seed)
    for held in np.array_split(rng.permutation(both), folds):
        fit, held = np.setdiff1d(both, held), np.sort(held)
        signals = ColdSignals.build(source, target, fit, config.signals)
        users_f, items_f = lowrank_factors(source, target, fit, factors, seed)
        for b in range(0, len(held), BLOCK):
            users = held[b:b + BLOCK]
            cand, x = candidate_table(signals.evidence(source[users]), config.candidates)
            y = np.take_along_axis(target[users].toarray() > 0, cand, axis=1).astype(np.float32)
            keep = y.sum(axis=1) > 0
            extended = with_lowrank(cand, x, users_f[users] @ items_f.T)
            for name, feats in (("reranker", x), ("reranker+lowrank", extended)):
                out[name][0].append(feats[keep])
                out[name][1].append(y[keep])
    return {k: (np.concatenate(xs), np.concatenate(ys)) for k, (xs, ys) in out.items()}


def measure(data, folds: int, factors: int, epochs: int, seed: int) -> dict:
    """One direction's row of the table: cold-validation NDCG@10 of the low-rank score, of
    the reranker without and with it, the reach of each candidate set, and the seconds."""
    from crossrec.data.sparse import SOURCE, TARGET, domain_matrix, overlap_users
    from crossrec.metrics.protocol import evaluate
    from crossrec.models.cold_signals import ColdSignals
    from crossrec.models.reranker import RerankerConfig, candidate_table
    from crossrec.ranking.recommender import Recommender
    from crossrec.train.rerank import fit_reranker

    source, target = domain_matrix(data, SOURCE), domain_matrix(data, TARGET)
    config = RerankerConfig()
    t0 = time.perf_counter()
    train = tables(source, target, folds, factors, seed, config)
    both = overlap_users(source, target)
    signals = ColdSignals.build(source, target, both, config.signals)
    users_all, items_all = lowrank_factors(source, target, both, factors, seed)

    class Reranked(Recommender):
        """A cold user's candidates in the network's order, above every other item."""

        def __init__(self, net, lowrank: bool):
            self.data, self.net, self.lowrank = data, net, lowrank

        def score(self, users):
            cand, x = candidate_table(signals.evidence(source[users]), config.candidates)
            if self.lowrank:
                x = with_lowrank(cand, x, users_all[users] @ items_all.T)
            with torch.no_grad():
                s = self.net(torch.from_numpy(x))
            out = torch.full((len(users), target.shape[1]), -1e9)
            return out.scatter_(1, torch.from_numpy(cand), s - s.min(dim=1, keepdim=True).values)

    class LowRank(Recommender):
        def __init__(self):
            self.data = data

        def score(self, users):
            return torch.from_numpy((users_all[users] @ items_all.T).astype(np.float32))

    row = {"lowrank": evaluate(LowRank(), "cold_val")["ndcg@10"]}
    for name, (x, y) in train.items():
        features = list(config.features) + (list(LOWRANK) if name != "reranker" else [])
        net = fit_reranker(x, y, config.model_copy(update={"features": features}), epochs, seed)
        row[name] = evaluate(Reranked(net, name != "reranker"), "cold_val")["ndcg@10"]
    row.update(reach(data, source, signals, users_all, items_all, config))
    row["seconds"] = time.perf_counter() - t0
    return row


def reach(data, source, signals, users_all, items_all, config) -> dict:
    """Share of validation users with a held-out item among the reranker's candidates, the
    low-rank top ``candidates``, and their union."""
    from crossrec.models.reranker import candidate_table

    users = np.array(sorted(data.truth_sizes["cold_val"]), dtype=np.int64)
    start = data.vocab.domain_ranges[1][0]
    hits = np.zeros(3)
    for b in range(0, len(users), BLOCK):
        u = users[b:b + BLOCK]
        cand, _ = candidate_table(signals.evidence(source[u]), config.candidates)
        scores = users_all[u] @ items_all.T
        top = np.argpartition(-scores, config.candidates, axis=1)[:, :config.candidates]
        for i, user in enumerate(u):
            truth = data.truth["cold_val"].get(int(user))
            if truth is None:
                continue
            truth = set((truth - start).tolist())
            c, t = set(cand[i].tolist()), set(top[i].tolist())
            hits += [bool(truth & c), bool(truth & t), bool(truth & (c | t))]
    n = len(users)
    return {"reach_candidates": hits[0] / n, "reach_lowrank": hits[1] / n,
            "reach_union": hits[2] / n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=1, help="how many split seeds")
    ap.add_argument("--pairs", nargs="*", help="pair folders, e.g. sport_cloth (default: all)")
    ap.add_argument("--factors", type=int, default=128, help="low-rank dimensions")
    ap.add_argument("--folds", type=int, default=5, help="pseudo-cold folds (as [bundle])")
    ap.add_argument("--epochs", type=int, default=30, help="reranker epochs (as [bundle])")
    ap.add_argument("--out", type=Path,
                    default=ROOT / "bench" / "results" / "transfer_signal.json")
    args = ap.parse_args()
    if not DATA.is_dir():
        print(f"skipped: real data not found at {DATA} (see shared/data/README.md)")
        return
    from crossrec.evaluate.compare import build_marts

    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for source, target in directions(DATA, args.pairs):
            runs = []
            for seed in range(args.seeds):
                settings = pair_settings(source, target, seed, 2, Path(tmp))
                data = build_marts(settings, DAY).load(source, target)
                runs.append(measure(data, args.folds, args.factors, args.epochs, seed))
            row = {k: statistics.fmean(r[k] for r in runs) for k in runs[0]}
            out[f"{source}->{target}"] = row
            print(f"{source}->{target}: " + ", ".join(f"{k} {v:.4f}" for k, v in row.items()),
                  flush=True)
    print("\ncold-validation NDCG@10 and reach (mean over seeds)")
    keys = list(next(iter(out.values())))
    print("| direction | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for d, row in out.items():
        print(f"| {d} | " + " | ".join(f"{row[k]:.4f}" for k in keys) + " |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"seeds": args.seeds, "factors": args.factors,
                                    "folds": args.folds, "epochs": args.epochs,
                                    "directions": out}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
