"""The evaluate stage: our model and the baselines on the held-out users, as files."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from crossrec.evaluate.baselines import Popularity
from crossrec.evaluate.metrics import METRICS
from crossrec.evaluate.protocol import evaluate
from crossrec.score.recommender import ModelRecommender, Recommender
from crossrec.train.data import EVAL_ROLES, DomainData


def evaluate_methods(methods: dict[str, Recommender]) -> list[dict]:
    """One row per (method, role) with every metric."""
    rows = []
    for name, rec in methods.items():
        for role in EVAL_ROLES:
            rows.append({"method": name, "role": role, **evaluate(rec, role)})
    return rows


def default_methods(model, data: DomainData, max_history: int) -> dict[str, Recommender]:
    return {"crossrec": ModelRecommender(model, data, max_history), "popularity": Popularity(data)}


def write_report(rows: list[dict], out_dir: Path, run_date: date, model_version: str) -> Path:
    """``metrics.json`` and ``report.md`` under ``out_dir``; returns the metrics path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "metrics.json"
    path.write_text(json.dumps({"run_date": run_date.isoformat(), "model_version": model_version,
                                "rows": rows}, indent=2))
    head = "| method | role | users | " + " | ".join(METRICS) + " |"
    lines = [f"# crossrec run {run_date}", "", f"Model version: `{model_version}`", "",
             "Cold users have all their target rows withheld and are ranked from source history "
             "alone; warm users hold out their last target item.", "", head,
             "|" + "---|" * (3 + len(METRICS))]
    for r in rows:
        lines.append(f"| {r['method']} | {r['role']} | {r['users']} | "
                     + " | ".join(f"{r[m]:.4f}" for m in METRICS) + " |")
    (out_dir / "report.md").write_text("\n".join(lines) + "\n")
    return path
