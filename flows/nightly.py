"""The nightly flow: ingest yesterday's clicks -> collect -> features -> validate -> publish
marts -> pretrain -> adapt -> finetune -> assemble -> the same on every row (refit) -> evaluate
-> gate -> score -> publish.
Each task calls one library function and passes paths onward; the policy lives in the
library."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from prefect import flow, get_run_logger, task, unmapped
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from crossrec.bundle.select import build_bundle, refit_bundle
from crossrec.collect.collector import cache_dir, check_sources, collect, remote_inputs
from crossrec.collect.download import DownloadError, fetch
from crossrec.collect.summary import collect_table
from crossrec.config import Settings, load_settings
from crossrec.data.marts import MartPaths
from crossrec.evaluate.report import evaluate_run
from crossrec.features.build import FeatureBuild, build_features, publish_marts
from crossrec.gate import current_champion, run_gate
from crossrec.layout import Layout
from crossrec.lock import exclusive
from crossrec.runners import task_runner
from crossrec.score.shards import plan_shards, publish_staged, score_shard
from crossrec.train.stages import run_stage
from crossrec.validate.docs import failure_rows, summary_markdown
from crossrec.validate.gate import report_path, validate_warehouse
from flows.ingest_clicks import ingest_clicks

# Everything here writes state, so Prefect's input caching must never skip a task.
stage = dict(cache_policy=NO_CACHE)


def _transient(task, task_run, state) -> bool:
    """Retry a download only when retrying can help (not a 404 or a checksum mismatch)."""
    try:
        state.result()
    except DownloadError as exc:
        return not exc.permanent
    except Exception:  # noqa: BLE001 - anything else: let the retry policy decide
        return True
    return True


@task(name="download", task_run_name="download-{url}", retry_condition_fn=_transient, **stage)
def download_task(settings: Settings, url: str, sha256: str | None) -> Path:
    return fetch(url, cache_dir(settings), sha256, settings.collect.download_timeout_s)


@task(name="collect", **stage)
def collect_task(settings: Settings, run_date: date, fetched: dict[str, Path]) -> dict:
    summary = collect(settings, run_date, fetched)
    t = summary["totals"]
    get_run_logger().info("landed %s of %s rows read (%s quarantined, %s filtered) -> %s",
                          t.get("landed", 0), t.get("read", 0), t.get("quarantined", 0),
                          t.get("filtered", 0), summary["partition"])
    create_table_artifact(key="crossrec-collect", table=collect_table(summary),
                          description=f"Collection of {run_date}: rows per input file")
    return summary


def download_all(settings: Settings) -> dict[str, Path]:
    """Fetch every remote input first, each a task with retries and exponential back-off;
    returns URL -> cached file."""
    c = settings.collect
    delays = [c.retry_delay_s * 2**i for i in range(c.download_retries)]
    fetcher = download_task.with_options(retries=c.download_retries,
                                         retry_delay_seconds=delays or 0)
    return {url: fetcher(settings, url, sha) for url, sha in remote_inputs(settings)}


@task(name="features", **stage)
def features_task(settings: Settings, run_date: date, full_refresh: bool) -> FeatureBuild:
    build = build_features(settings, run_date, full_refresh=full_refresh or None, publish=False)
    log = get_run_logger()
    for model, r in build.incremental.items():
        log.info("%s: %s; loaded %s, deleted %s, unchanged %d partition(s)", model,
                 "full refresh" if r.full_refresh else "incremental",
                 [str(d) for d in r.loaded], [str(d) for d in r.deleted], r.unchanged)
    log.info("built %s", build.row_counts)
    return build


@task(name="validate", **stage)
def validate_task(settings: Settings, run_date: date) -> Path:
    try:
        return validate_warehouse(settings, run_date)
    finally:  # publish the summary whether the gate passed or failed
        report = report_path(settings, run_date)
        if report.is_file():
            summary = json.loads(report.read_text())
            create_markdown_artifact(key="crossrec-validation", markdown=summary_markdown(summary),
                                     description=f"Validation gate of run {run_date}")
            failed = failure_rows(summary["suites"])
            if failed:
                create_table_artifact(key="crossrec-validation-failures", table=failed,
                                      description=f"Failed expectations of run {run_date}")


@task(name="publish-marts", **stage)
def publish_marts_task(build: FeatureBuild) -> MartPaths:
    """Only a batch that passed validation replaces the date's marts."""
    return MartPaths.from_exports(publish_marts(build).exports)


def validated_marts(settings: Settings, run_date: date, full_refresh: bool
                    ) -> tuple[FeatureBuild, Path, MartPaths]:
    """Features, the validation gate, then the marts swapped in: a failed gate raises before
    the last step and the date's previous marts stay as they were."""
    build = features_task(settings, run_date, full_refresh)
    validation = validate_task(settings, run_date)
    return build, validation, publish_marts_task(build)


def _stage(stage_name: str, settings: Settings, marts: MartPaths, run_date: date,
           init: Path | None, out_root: Path, refit_of: Path | None) -> Path:
    # a progress bar in the UI: epochs done out of the most this stage may run
    label = f"{stage_name} refit" if refit_of else stage_name
    progress = create_progress_artifact(0.0, description=f"{label} epochs")

    def on_epoch(done: int, epochs: int, logs: dict[str, float]) -> None:
        update_progress_artifact(progress, 100.0 * done / max(epochs, 1))

    path = run_stage(stage_name, settings, marts, run_date, init, out_root, on_epoch, refit_of)
    update_progress_artifact(progress, 100.0)  # early stopping ends before the last epoch
    get_run_logger().info("%s checkpoint: %s", label, path)
    return path


@task(name="train", task_run_name="{stage_name}", **stage)
def train_task(stage_name: str, settings: Settings, marts: MartPaths, run_date: date,
               init: Path | None, out_root: Path) -> Path:
    return _stage(stage_name, settings, marts, run_date, init, out_root, None)


@task(name="refit", task_run_name="refit-{stage_name}", **stage)
def refit_task(stage_name: str, settings: Settings, marts: MartPaths, run_date: date,
               init: Path | None, out_root: Path, selected: Path) -> Path:
    """``stage_name`` again on every row, for the epochs the held-out run ``selected`` kept."""
    return _stage(stage_name, settings, marts, run_date, init, out_root, selected)


@task(name="assemble", **stage)
def bundle_task(settings: Settings, marts: MartPaths, run_date: date, checkpoint: Path) -> Path:
    """The fine-tuned checkpoint becomes the shipped bundle (item graph, fusion weight and
    reranker chosen on the cold validation users), saved as a new version."""
    path = build_bundle(checkpoint, marts, settings.domains, settings.model.max_history,
                        settings.bundle, settings.run, run_date, Layout(settings.data_dir).models)
    get_run_logger().info("model version: %s", path)
    return path


@task(name="assemble-refit", **stage)
def refit_bundle_task(settings: Settings, marts: MartPaths, run_date: date, selection: Path,
                      checkpoint: Path) -> Path:
    """The version that ships: the held-out ``selection`` bundle's choices around the tower
    refit on every row, its graph and reranker refitted on every row too."""
    path = refit_bundle(selection, checkpoint, marts, settings.domains, settings.bundle,
                        settings.run, run_date, Layout(settings.data_dir).models)
    get_run_logger().info("refit model version: %s (selected as %s)", path, selection.name)
    return path


def refit_all(settings: Settings, marts: MartPaths, run_date: date, selected: list[Path],
              selection: Path) -> Path:
    """Every training stage and the bundle again on every row, as ``selected`` (the held-out
    run's stage checkpoints, in order) and ``selection`` chose."""
    layout, init = Layout(settings.data_dir), None
    for name, chosen in zip(("pretrain", "adapt", "finetune"), selected, strict=True):
        init = refit_task(name, settings, marts, run_date, init,
                          layout.work(run_date, f"{name}-refit"), chosen)
    return refit_bundle_task(settings, marts, run_date, selection, init)


@task(name="evaluate", **stage)
def evaluate_task(settings: Settings, marts: MartPaths, model_dir: Path, run_date: date,
                  champion: Path | None = None) -> Path:
    out = evaluate_run(settings, marts, model_dir, run_date, champion)
    create_table_artifact(key="crossrec-metrics", table=json.loads(out.read_text())["rows"],
                          description=f"Held-out metrics for run {run_date}")
    create_markdown_artifact(key="crossrec-report", markdown=(out.parent / "report.md").read_text())
    return out


@task(name="gate", **stage)
def gate_task(settings: Settings, metrics: Path, model_dir: Path, champion: Path | None,
              run_date: date) -> tuple[Path | None, str]:
    """Promote tonight's model or keep the champion; returns the version to publish (None:
    publish nothing, yesterday's recommendations stay) and the decision in words."""
    outcome = run_gate(settings.gate, Layout(settings.data_dir), metrics, model_dir, champion,
                       run_date)
    summary, publish = outcome.decision.summary, outcome.publish
    if outcome.decision.accepted:
        get_run_logger().info("quality gate: %s", summary)
    else:
        get_run_logger().warning("quality gate %s; %s", summary,
                                 f"publishing with the champion {publish.name}" if publish
                                 else "yesterday's recommendations stay in place")
    create_markdown_artifact(key="crossrec-gate", markdown=outcome.section,
                             description=f"Quality gate of run {run_date}")
    return publish, summary


@task(name="plan-scoring", **stage)
def plan_scoring_task(settings: Settings, marts: MartPaths, model_dir: Path,
                      run_date: date) -> tuple[Path, list[tuple[int, int]]]:
    staging, shards = plan_shards(settings, marts, model_dir, run_date)
    get_run_logger().info("scoring %d users in %d shard(s)", shards[-1][1], len(shards))
    return staging, shards


@task(name="score", task_run_name="score-shard-{shard}", **stage)
def score_task(settings: Settings, marts: MartPaths, model_dir: Path, staging: Path,
               shard: int, start: int, stop: int) -> int:
    rows = score_shard(settings, marts, model_dir, staging, shard, start, stop)
    get_run_logger().info("shard %d: users %d-%d, %d rows", shard, start, stop, rows)
    return rows


@task(name="publish", **stage)
def publish_task(settings: Settings, marts: MartPaths, model_dir: Path, staging: Path,
                 run_date: date, n_parts: int) -> Path:
    final, rows = publish_staged(settings, marts, model_dir, staging, run_date, n_parts)
    get_run_logger().info("published %d rows to %s", rows, final)
    return final


@flow(name="score-and-publish", flow_run_name="score-{run_date}")
def score_and_publish(settings: Settings, marts: MartPaths, model_dir: Path,
                      run_date: date) -> Path:
    """Top-N for every user with the model at ``model_dir``, one task per user shard on this
    flow's task runner (``[run] task_runner``: threads, or Dask worker processes), then
    check and swap the partition into the lake."""
    # one publisher per date: two runs of the same date share a staging folder
    with exclusive(settings.data_dir, f"publish-{run_date.isoformat()}",
                   f"score-and-publish {run_date}", settings.run.lock_timeout_s):
        return _score_and_publish(settings, marts, model_dir, run_date)


def _score_and_publish(settings: Settings, marts: MartPaths, model_dir: Path,
                       run_date: date) -> Path:
    staging, shards = plan_scoring_task(settings, marts, model_dir, run_date)
    parts = score_task.map(unmapped(settings), unmapped(marts), unmapped(model_dir),
                           unmapped(staging), shard=list(range(len(shards))),
                           start=[a for a, _ in shards], stop=[b for _, b in shards])
    scored = sum(p.result() for p in parts)  # raises the first failed shard's error
    get_run_logger().info("scored %d rows in %d shard(s)", scored, len(shards))
    return publish_task(settings, marts, model_dir, staging, run_date, len(shards))


def _run_name() -> str:
    day = flow_run.parameters.get("run_date") or date.today()
    return f"nightly-{day}"


@flow(name="nightly", flow_run_name=_run_name)
def nightly(run_date: date | None = None, config_path: str | None = None,
            data_dir: str | None = None, settings: Settings | None = None,
            full_refresh: bool = False, score: bool = True,
            ingest_clicks: bool | None = None) -> dict[str, str | None]:
    """Run every stage for ``run_date`` (default: today, as a scheduled run needs); returns
    where the outputs are. ``full_refresh`` rebuilds the incremental SQL models from every
    landing partition. ``score=False`` stops after evaluation (the backfill scores dates
    itself, overlapping with the next date's training). ``ingest_clicks`` overrides
    ``[clicks] ingest_yesterday`` (the backfill ingests the whole range first)."""
    run_date = run_date or date.today()
    if settings is None:
        settings = load_settings(Path(config_path) if config_path else None, data_dir=data_dir)
    check_sources(settings)
    # one writer per data folder: a second run waits for this one, or fails clearly
    with exclusive(settings.data_dir, "warehouse", f"nightly {run_date}",
                   settings.run.lock_timeout_s):
        clicks = settings.clicks.ingest_yesterday if ingest_clicks is None else ingest_clicks
        out = _train(run_date, settings, full_refresh, clicks)
    if score and out["published_model"]:
        # reads only this run's immutable marts and model version, and writes only this
        # date's partition (atomically), so it needs no warehouse lock
        final = score_and_publish.with_options(task_runner=task_runner(settings))(
            settings, MartPaths.from_dir(Path(out["marts"])), Path(out["published_model"]),
            run_date)
        out["recommendations"] = str(final)
    return out


def _train(run_date: date, settings: Settings, full_refresh: bool,
           clicks: bool) -> dict[str, str | None]:
    if clicks:  # yesterday's clicks are tonight's training signal
        ingest_clicks(run_date - timedelta(days=1), settings=settings)
    fetched = download_all(settings)
    collected = collect_task(settings, run_date, fetched)
    build, validation, marts = validated_marts(settings, run_date, full_refresh)
    layout = Layout(settings.data_dir)
    pre = train_task("pretrain", settings, marts, run_date, None, layout.work(run_date, "pretrain"))
    ada = train_task("adapt", settings, marts, run_date, pre, layout.work(run_date, "adapt"))
    fin = train_task("finetune", settings, marts, run_date, ada, layout.work(run_date, "finetune"))
    selection = bundle_task(settings, marts, run_date, fin)
    # selection needed held-out rows; the version that ships is trained on every row
    model_dir = (refit_all(settings, marts, run_date, [pre, ada, fin], selection)
                 if settings.train.refit else selection)
    champion = current_champion(layout)
    metrics = evaluate_task(settings, marts, model_dir, run_date, champion)
    publish, gate = gate_task(settings, metrics, model_dir, champion, run_date)
    return {"landing": collected["partition"], "recommendations": None,
            "metrics": str(metrics), "report": str(metrics.parent / "report.md"),
            "validation": str(validation), "warehouse": str(build.warehouse),
            "model": str(model_dir), "selection_model": str(selection), "gate": gate,
            "published_model": str(publish) if publish else None,
            "marts": str(marts.interactions.parent)}
