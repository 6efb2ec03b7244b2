"""The whole evaluation protocol on configured data: our model, its ablations, the baselines.

Used by ``crossrec evaluate --config FILE`` and by ``bench/quality.py``. Collects and builds
features like the nightly flow, trains the three stages, and evaluates every method on the
cold validation users (what model selection may look at) and the cold test users.
"""

from __future__ import annotations

import logging
import time
from datetime import date
from pathlib import Path

from crossrec.bundle.bundle import Bundle
from crossrec.bundle.select import build_bundle
from crossrec.collect.collector import collect
from crossrec.config import Settings
from crossrec.data.marts import MartPaths
from crossrec.evaluate.methods import ABLATIONS, baseline_factories, with_overrides
from crossrec.features.build import build_features
from crossrec.layout import Layout
from crossrec.lock import exclusive
from crossrec.metrics.protocol import evaluate
from crossrec.metrics.ranking import METRICS
from crossrec.ranking.recommender import Recommender
from crossrec.train.stages import run_stage

log = logging.getLogger(__name__)
ROLES = ("cold_val", "cold_test")

def compare_dir(settings: Settings, run_date: date) -> Path:
    """Where :func:`compare` trains: ``crossrec/<stage>/<version>/`` for our model's stages
    and ``crossrec/bundle/<version>/`` for its bundle, one folder per ablation beside it."""
    return Layout(settings.data_dir).compare(run_date)


def build_marts(settings: Settings, run_date: date) -> MartPaths:
    # the same landing, warehouse and marts a nightly run writes: one writer at a time
    with exclusive(settings.data_dir, "warehouse", f"crossrec evaluate {run_date}",
                   settings.run.lock_timeout_s):
        collect(settings, run_date)
        build = build_features(settings, run_date)
    return MartPaths.from_exports(build.exports)


def train_all(settings: Settings, marts: MartPaths, run_date: date, out: Path) -> Path:
    """pretrain -> adapt -> finetune -> assemble, with the nightly flow's functions; returns
    the bundle's version folder (under ``out / "bundle"``)."""
    init = None
    for stage in ("pretrain", "adapt", "finetune"):
        if stage != "finetune" and getattr(settings.train, f"{stage}_epochs") == 0:
            continue  # an ablation skips the stage (the bundle is still assembled)
        init = run_stage(stage, settings, marts, run_date, init, out / stage)
    return build_bundle(init, marts, settings.domains, settings.model.max_history,
                        settings.bundle, settings.run, run_date, out / "bundle")


def _rows(name: str, rec: Recommender, seconds: float) -> list[dict]:
    # a tuned baseline says what it chose on cold_val (and its fit time includes the search)
    chosen = {"chosen": rec.chosen} if getattr(rec, "chosen", None) else {}
    return [{"method": name, "role": role, **evaluate(rec, role, by_activity=True),
             "fit_s": round(seconds, 1), **chosen} for role in ROLES]


def compare(settings: Settings, run_date: date, ablations: bool = False,
            baselines: tuple[str, ...] | None = None) -> list[dict]:
    """One row per (method, role): our model, the fused model without its reranker (where it
    has one), its two parts alone, optionally the ablations that retrain (each as shipped
    and its two-tower model alone), and the baselines."""
    marts = build_marts(settings, run_date)
    data = marts.load(settings.domains.source, settings.domains.target)
    out = compare_dir(settings, run_date)
    t0 = time.perf_counter()
    final = train_all(settings, marts, run_date, out / "crossrec")
    seconds = time.perf_counter() - t0
    bundle = Bundle.load(final)
    rows = _rows("crossrec", bundle.recommender(data), seconds)
    if bundle.reranker is not None:  # what the reranker adds over the fused model
        rows += _rows("crossrec_no_rerank", bundle.recommender(data, parts="fused"), seconds)
    rows += _rows("crossrec_two_tower_only", bundle.recommender(data, parts="tower"), seconds)
    if bundle.graph is not None:
        rows += _rows("crossrec_graph_only", bundle.recommender(data, parts="graph"), seconds)
    if ablations:
        for name, override in ABLATIONS.items():
            variant = with_overrides(settings, override)
            t0 = time.perf_counter()
            folder = train_all(variant, marts, run_date, out / name)
            seconds = time.perf_counter() - t0
            variant_bundle = Bundle.load(folder)
            rows += _rows(f"crossrec_{name}", variant_bundle.recommender(data), seconds)
            # a shipped reranker orders a cold user's top items without the tower, so the
            # stages' effect on the neural part shows only in the tower alone
            rows += _rows(f"crossrec_{name}_two_tower_only",
                          variant_bundle.recommender(data, parts="tower"), seconds)
    factories = baseline_factories(settings)
    for name in baselines or tuple(factories):
        t0 = time.perf_counter()
        rec = factories[name](data)
        rows += _rows(name, rec, time.perf_counter() - t0)
        log.info("%s done", name)
    return rows


def table(rows: list[dict], role: str = "cold_test") -> str:
    """Markdown table of one role."""
    head = "| method | users | " + " | ".join(METRICS) + " | fit s |"
    lines = [head, "|" + "---|" * (3 + len(METRICS))]
    for r in rows:
        if r["role"] == role:
            lines.append(f"| {r['method']} | {r['users']} | "
                         + " | ".join(f"{r[m]:.4f}" for m in METRICS) + f" | {r['fit_s']} |")
    return "\n".join(lines)
