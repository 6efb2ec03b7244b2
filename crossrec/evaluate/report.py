"""The evaluate stage: our model and the baselines on the held-out users, as files.

Writes ``metrics.json``, ``report.md`` and the PNG plots it links (metric by method, training
curves of the three stages, the adaptation's discriminator and probe accuracy).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from crossrec.bundle.bundle import Bundle, held_out
from crossrec.config import Settings
from crossrec.data.domain import EVAL_ROLES, DomainData
from crossrec.data.marts import MartPaths
from crossrec.evaluate.methods import CHAMPION, GATE_ROLE, OURS, baseline_factories
from crossrec.evaluate.plots import discriminator_accuracy, metric_by_method, training_curves
from crossrec.layout import Layout
from crossrec.metrics.protocol import evaluate, paired_se
from crossrec.metrics.ranking import METRICS
from crossrec.ranking.recommender import Recommender
from crossrec.storage import write_text_atomic
from crossrec.train.checkpoint import METRICS as METRICS_FILE
from crossrec.train.stages import stage_records


def evaluate_methods(methods: dict[str, Callable[[], Recommender]],
                     roles: tuple[str, ...] = EVAL_ROLES) -> list[dict]:
    """One row per (method, role) with every metric and the seconds the method took to
    build (``fit_s``; a tuned baseline's includes its search, and its rows carry ``chosen``);
    methods are built lazily, one at a time, so only one baseline's factors are in memory.

    On the cold validation users (what the gate judges on) every other method's row also
    carries ``paired_se``: per metric, the standard error of the mean of ours minus it, user
    by user: how far apart the two can be by chance alone on that many users."""
    rows, per_user = [], {}
    for name, build in methods.items():
        t0 = time.perf_counter()
        rec = build()
        extra = {"fit_s": round(time.perf_counter() - t0, 1)}
        if getattr(rec, "chosen", None):
            extra["chosen"] = rec.chosen
        for role in roles:
            result = evaluate(rec, role, per_user=role == GATE_ROLE)
            if role == GATE_ROLE:
                per_user[name] = result.pop("per_user")
            rows.append({"method": name, "role": role, **result, **extra})
        del rec
    if OURS in per_user:
        for row in rows:
            if row["role"] == GATE_ROLE and row["method"] != OURS:
                row["paired_se"] = {m: paired_se(per_user[OURS][m], per_user[row["method"]][m])
                                    for m in METRICS}
    return rows


def stage_histories(final: Path) -> dict[str, list[dict]]:
    """Per-epoch logs of every stage behind a model version, pretrain first, from the
    version's own ``metrics.json`` (older versions: following ``lineage.init``)."""
    return {r["stage"]: r.get("history") or [] for r in stage_records(final) if r.get("stage")}


def write_report(rows: list[dict], out_dir: Path, run_date: date, model_dir: Path,
                 feedback: Path | None = None) -> Path:
    """``metrics.json``, ``report.md`` and plots under ``out_dir``; returns the metrics path.
    ``feedback``: a click-feedback markdown (yesterday's CTR tables) to include."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "metrics.json"
    evaluated = held_out(model_dir)
    write_text_atomic(json.dumps({"run_date": run_date.isoformat(),
                                  "model_version": model_dir.name,
                                  "evaluated_version": evaluated.name, "rows": rows},
                                 indent=2), path)
    histories = stage_histories(model_dir)
    plots = {"ndcg_by_method.png": lambda p: metric_by_method(rows, p, role=None),
             "training_curves.png": lambda p: training_curves(histories, p),
             "discriminator.png": lambda p: discriminator_accuracy(histories.get("adapt", []), p)}
    for name, draw in plots.items():
        draw(out_dir / name)
    head = "| method | role | users | " + " | ".join(METRICS) + " |"
    lines = [f"# crossrec run {run_date}", "", f"Model version: `{model_dir.name}`", ""]
    if evaluated != model_dir:
        lines += [f"It was refit on every row with the settings selected on the held-out "
                  f"version `{evaluated.name}`; every number below is that held-out "
                  f"version's (the refit has seen the evaluation users' rows).", ""]
    lines += ["Cold users have all their target rows withheld and are ranked from source "
              "history alone; warm users hold out their last target item. Model selection "
              "uses the cold validation users only.", "", head, "|" + "---|" * (3 + len(METRICS))]
    for r in rows:
        lines.append(f"| {r['method']} | {r['role']} | {r['users']} | "
                     + " | ".join(f"{r[m]:.4f}" for m in METRICS) + " |")
    fusion = json.loads((model_dir / METRICS_FILE).read_text()).get("fusion")
    if fusion:
        # older versions: a walk's exponents only, and the prior's record under "popularity"
        graph = fusion.get("graph") or f"walk alpha={fusion['alpha']} beta={fusion['beta']}"
        prior = fusion.get("popularity", 0.0)
        prior = prior.get("weight", 0.0) if isinstance(prior, dict) else prior
        lines += ["", f"Item graph: {graph}, popularity prior {prior}, fusion weight "
                      f"{fusion['weight']} (how each was chosen: the version's metrics.json, "
                      "`fusion`)."]
    tuned = {r["method"]: r["chosen"] for r in rows if r.get("chosen")}
    if tuned:
        lines += ["", "Baselines' hyper-parameters chosen on cold validation users: "
                  + "; ".join(f"{name} " + ", ".join(f"{k} {v}" for k, v in chosen.items())
                              for name, chosen in tuned.items()) + "."]
    lines += ["", "![NDCG@10 by method](ndcg_by_method.png)", "",
              "![Training curves](training_curves.png)", "",
              "![Discriminator and probe accuracy](discriminator.png)", ""]
    if feedback is not None and feedback.is_file():  # one heading level down, under ours
        lines += [("#" + line) if line.startswith("#") else line
                  for line in feedback.read_text().splitlines()]
    write_text_atomic("\n".join(lines), out_dir / "report.md")
    return path


def default_methods(ours: Callable[[], Recommender], data: DomainData,
                    baselines: dict[str, Callable[[DomainData], Recommender]]
                    ) -> dict[str, Callable[[], Recommender]]:
    """Our model first, then each baseline (built on demand)."""
    return {OURS: ours,
            **{name: (lambda make=make: make(data)) for name, make in baselines.items()}}


def evaluate_run(settings: Settings, marts: MartPaths, model_dir: Path, run_date: date,
                 champion: Path | None = None) -> Path:
    """The evaluate stage: tonight's bundle, the champion (where there is one: the gate
    compares them on the same users) and the baselines on every held-out role; writes the
    run's report (with yesterday's click feedback) and returns ``metrics.json``. A refit
    version (and a refit champion) is scored as its held-out version (:func:`held_out`)."""
    data = marts.load(settings.domains.source, settings.domains.target)

    def bundle(folder: Path) -> Callable[[], Recommender]:
        # max_history only for versions saved before bundles carried their own
        return lambda: Bundle.load(folder, settings.model.max_history).recommender(data)

    # a refit has seen the evaluation users' held-out rows: its held-out version stands for it
    evaluated = held_out(model_dir)
    methods = default_methods(bundle(evaluated), data, baseline_factories(settings))
    if champion is not None and held_out(champion) != evaluated:
        methods[CHAMPION] = bundle(held_out(champion))
    rows = evaluate_methods(methods)
    layout = Layout(settings.data_dir)
    return write_report(rows, layout.reports(run_date), run_date, model_dir,
                        feedback=layout.reports(run_date - timedelta(days=1)) / "feedback.md")
