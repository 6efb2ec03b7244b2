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

from crossrec.collect.collector import collect
from crossrec.config import Settings
from crossrec.data.marts import MartPaths
from crossrec.evaluate.methods import ABLATIONS, baseline_factories, with_overrides
from crossrec.features.build import build_features
from crossrec.lock import exclusive
from crossrec.metrics.protocol import evaluate
from crossrec.metrics.ranking import METRICS
from crossrec.models.tower_recommender import ModelRecommender
from crossrec.ranking.recommender import Recommender
from crossrec.score.hybrid import HybridRecommender, load_recommender
from crossrec.score.rerank import RerankedRecommender
from crossrec.train.checkpoint import load_graph, load_model
from crossrec.train.stages import run_stage

log = logging.getLogger(__name__)
ROLES = ("cold_val", "cold_test")

def compare_dir(settings: Settings, run_date: date) -> Path:
    """Where :func:`compare` trains: ``crossrec/<stage>/<version>/`` for our model, one folder
    per ablation beside it."""
    return settings.data_dir / "compare" / run_date.isoformat()


def build_marts(settings: Settings, run_date: date) -> MartPaths:
    # the same landing, warehouse and marts a nightly run writes: one writer at a time
    with exclusive(settings.data_dir, "warehouse", f"crossrec evaluate {run_date}",
                   settings.run.lock_timeout_s):
        collect(settings, run_date)
        build = build_features(settings, run_date)
    return MartPaths.from_exports(build.exports)


def train_all(settings: Settings, marts: MartPaths, run_date: date, out: Path) -> Path:
    """pretrain -> adapt -> finetune; returns the final model version's folder."""
    init = None
    for stage in ("pretrain", "adapt", "finetune"):
        if stage != "finetune" and getattr(settings.train, f"{stage}_epochs") == 0:
            continue  # an ablation skips the stage (fine-tuning still fuses the graph)
        init = run_stage(stage, settings, marts, run_date, init, out / stage)
    return init


def _rows(name: str, rec: Recommender, seconds: float) -> list[dict]:
    return [{"method": name, "role": role, **evaluate(rec, role, by_activity=True),
             "fit_s": round(seconds, 1)} for role in ROLES]


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
    hist = settings.model.max_history
    ours = load_recommender(final, data, hist)
    rows = _rows("crossrec", ours, seconds)
    if isinstance(ours, RerankedRecommender):  # what the reranker adds over the fused model
        rows += _rows("crossrec_no_rerank", ours.base, seconds)
    tower = ModelRecommender(load_model(final)[0], data, hist)
    rows += _rows("crossrec_two_tower_only", tower, seconds)
    saved = load_graph(final)
    if saved is not None:
        rows += _rows("crossrec_graph_only", HybridRecommender(tower, saved[0], 1.0), seconds)
    if ablations:
        for name, override in ABLATIONS.items():
            variant = with_overrides(settings, override)
            t0 = time.perf_counter()
            folder = train_all(variant, marts, run_date, out / name)
            seconds = time.perf_counter() - t0
            rows += _rows(f"crossrec_{name}", load_recommender(folder, data, hist), seconds)
            # a shipped reranker orders a cold user's top items without the tower, so the
            # stages' effect on the neural part shows only in the tower alone
            rows += _rows(f"crossrec_{name}_two_tower_only",
                          ModelRecommender(load_model(folder)[0], data, hist), seconds)
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
