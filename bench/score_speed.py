"""Batch top-N scoring speed: our kernel against faiss and against the bare matrix product.

Top-``--k`` of ``--users`` x ``--items`` dot products (d = ``--dim``, float32, Gaussian
vectors from ``--seed``), each method in its own child process so its peak memory (RSS) is
its own, all in one run on the same machine with ``--threads`` threads:

- ``crossrec``: :func:`crossrec.ranking.topn.topn` (tiled product + streaming selection);
- ``crossrec_exclude``: the same, also excluding ``--seen`` random items per user;
- ``faiss``: ``IndexFlatIP.search`` (exact; ``pip install -e '.[bench]'`` for faiss-cpu);
- ``sgemm``: the bare products alone: MKL (all threads) over the kernel's tiles and over
  1024-user blocks of the whole catalogue, and the kernel's own scheme (one single-threaded
  product per core); the fastest is the floor.

Each method runs ``--repeat`` times, interleaved; ratios use the medians (a shared
2-core machine drifts by 30% from run to run).

Checks that our top-k sets equal faiss's, ties aside (an item in one set only must score
within float rounding of the k-th score), and prints ratios; writes
``bench/results/score_speed.json``.

    .venv/bin/python bench/score_speed.py
    .venv/bin/python bench/score_speed.py --users 20000 --device cuda
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def vectors(args):
    import torch

    g = torch.Generator().manual_seed(args.seed)
    return (torch.randn(args.users, args.dim, generator=g),
            torch.randn(args.items, args.dim, generator=g))


def seen_lists(args) -> list[np.ndarray]:
    rng = np.random.default_rng(args.seed + 1)
    return list(rng.integers(0, args.items, size=(args.users, args.seen)))


def set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)  # the kernel runs this many threads of its own


def bare_products(users, items, rows: int, width: int, threads: int) -> float:
    """Seconds for every (rows x width) block of ``users @ items.T``, nothing else."""
    import torch

    tiles = [items[c:c + width].T.contiguous() for c in range(0, len(items), width)]
    starts = range(0, len(users), rows)

    def products(part: range) -> None:
        buf = torch.empty((rows, width), device=users.device)
        for s in part:
            block = users[s:s + rows]
            for t in tiles:
                out = buf[:len(block), :t.shape[1]]
                torch.mm(block, t, out=out if out.is_contiguous() else None)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(products, [starts[i::threads] for i in range(threads)]))
    if users.device.type != "cpu":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def run_method(name: str, args, out: Path, queue) -> None:

    from crossrec.ranking import topn as kernel

    set_threads(args.threads)
    users, items = vectors(args)
    device = args.device
    if device != "cpu":
        users, items = users.to(device), items.to(device)
    kernel.topn(users[:64], items[:4096], args.k)  # compile the selection outside the clock
    seen = seen_lists(args) if name == "crossrec_exclude" else None
    result: dict = {}
    if name == "sgemm":
        floors = {}
        for label, rows, width in (("mkl_kernel_tiles", 1024, kernel.ITEM_TILE),
                                   ("mkl_full_rows", 1024, args.items)):
            floors[label] = bare_products(users, items, rows, width, threads=1)
        if device == "cpu":  # as the kernel runs them: one single-threaded product per core
            with kernel.torch_threads(1):
                floors["per_thread_tiles"] = bare_products(users, items, 1024,
                                                           kernel.ITEM_TILE, args.threads)
        result["floors_s"] = {k: round(v, 3) for k, v in floors.items()}
        seconds = min(floors.values())
    elif name == "faiss":
        import faiss

        faiss.omp_set_num_threads(args.threads)
        index = faiss.IndexFlatIP(args.dim)
        index.add(items.cpu().numpy())
        t0 = time.perf_counter()
        vals, ids = index.search(users.cpu().numpy(), args.k)
        seconds = time.perf_counter() - t0
        np.save(out / f"{name}.npy", ids)
    else:
        t0 = time.perf_counter()
        ids, vals = kernel.topn(users, items, args.k, seen, memory_mb=args.memory_mb)
        seconds = time.perf_counter() - t0
        np.save(out / f"{name}.npy", ids)
    result.update(seconds=round(seconds, 3),
                  peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    queue.put((name, result))


def child(name: str, args, out: Path) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=run_method, args=(name, args, out, queue))
    proc.start()
    got = queue.get()
    proc.join()
    if proc.exitcode:
        raise RuntimeError(f"{name} failed with exit code {proc.exitcode}")
    return got[1]


def compare_sets(args, ours: np.ndarray, theirs: np.ndarray) -> dict:
    """Users whose top-k sets differ, and how many differences are not ties at the k-th."""
    users, items = vectors(args)
    differ = np.flatnonzero((np.sort(ours, 1) != np.sort(theirs, 1)).any(1))
    not_ties = 0
    u64, i64 = users.double().numpy(), items.double().numpy()
    for u in differ:
        scores = i64 @ u64[u]
        kth = np.sort(scores)[-args.k]
        odd = np.setxor1d(ours[u], theirs[u])
        if (np.abs(scores[odd] - kth) > 1e-4 * max(1.0, abs(kth))).any():
            not_ties += 1
    return {"users_with_different_sets": int(len(differ)), "not_explained_by_ties": not_ties}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=100_000)
    p.add_argument("--items", type=int, default=50_000)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--seen", type=int, default=20, help="excluded items per user")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--memory-mb", type=float, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--skip-faiss", action="store_true")
    p.add_argument("--repeat", type=int, default=3, help="runs of each method (median)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "score_speed.json")
    args = p.parse_args()

    methods = ["sgemm", "crossrec", "crossrec_exclude"] + ([] if args.skip_faiss else ["faiss"])
    report = {"config": vars(args) | {"out": str(args.out)}, "machine": platform.platform(),
              "methods": {}}
    runs: dict[str, list[dict]] = {m: [] for m in methods}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeat):  # interleaved, so drift on a shared machine hits all
            for name in methods:
                r = child(name, args, Path(tmp))
                runs[name].append(r)
                print(f"[{rep + 1}/{args.repeat}] {name:>17}: {r['seconds']:8.2f} s  peak RSS "
                      f"{r['peak_rss_mb']:,} MB" + (f"  {r['floors_s']}" if "floors_s" in r
                                                    else ""), flush=True)
        if "faiss" in runs:
            report["sets"] = compare_sets(args, np.load(Path(tmp) / "crossrec.npy"),
                                          np.load(Path(tmp) / "faiss.npy"))
    for name, rs in runs.items():
        secs = [r["seconds"] for r in rs]
        report["methods"][name] = {"median_s": statistics.median(secs), "runs_s": secs,
                                   "peak_rss_mb": max(r["peak_rss_mb"] for r in rs)}
    m = {name: v["median_s"] for name, v in report["methods"].items()}
    ratios = {"vs_sgemm_floor": m["crossrec"] / m["sgemm"]}
    if "faiss" in m:
        ratios["speedup_vs_faiss"] = m["faiss"] / m["crossrec"]
    report["ratios"] = {k: round(v, 3) for k, v in ratios.items()}
    print("ratios:", report["ratios"], "| goal: >= 1.5x faster than faiss, <= 2x the floor")
    if "sets" in report:
        print("top-k sets vs faiss:", report["sets"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
