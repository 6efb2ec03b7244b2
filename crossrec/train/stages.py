"""Run one training stage end to end: load data, build or load the model, fit, save.

Each stage reads the previous stage's checkpoint folder and writes its own, so the flow's tasks
pass paths, not models. The fine-tuned checkpoint becomes the shipped model in
:mod:`crossrec.bundle.select`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Literal

import torch

from crossrec import __version__
from crossrec.config import Settings
from crossrec.data.domain import DomainData
from crossrec.data.marts import MartPaths
from crossrec.layout import Layout, landing_partitions
from crossrec.metrics.protocol import evaluate
from crossrec.models.factor_init import (
    calibrate_temperature,
    factor_tables,
    initialise_from_factors,
)
from crossrec.models.tower_recommender import ModelRecommender
from crossrec.models.two_tower import TwoTower, TwoTowerConfig
from crossrec.train.adapt import AdaptTrainer
from crossrec.train.attributes import ItemAttributes, load_item_attributes
from crossrec.train.base import resolve_device, seed_everything
from crossrec.train.checkpoint import LINEAGE, METRICS, load_model, save_model
from crossrec.train.finetune import FinetuneTrainer
from crossrec.train.fit import fit
from crossrec.train.pretrain import PretrainTrainer

Stage = Literal["pretrain", "adapt", "finetune"]
TRAINERS = {"pretrain": PretrainTrainer, "adapt": AdaptTrainer, "finetune": FinetuneTrainer}


def new_model(settings: Settings, data: DomainData,
              attributes: ItemAttributes | None = None) -> TwoTower:
    use = attributes if settings.model.attributes else None
    cfg = TwoTowerConfig(n_items=data.vocab.n_items, domains=data.vocab.domains,
                         domain_ranges=data.vocab.domain_ranges, dim=settings.model.dim,
                         pooling=settings.model.pooling,
                         attributes=use.cardinality if use is not None else {})
    model = TwoTower(cfg, torch.from_numpy(use.codes) if use is not None else None)
    if settings.model.init == "als":
        history, candidates = factor_tables(data, settings.model.dim,
                                            settings.model.init_whitening, settings.run.seed,
                                            settings.run.threads or 0)
        initialise_from_factors(model, history, candidates)
        calibrate_temperature(model, data, settings.model.max_history, settings.run.seed)
    return model


def cold_val_ndcg(model: TwoTower, data: DomainData, settings: Settings, device: str) -> float:
    rec = ModelRecommender(model, data, settings.model.max_history, device=device)
    return evaluate(rec, "cold_val")["ndcg@10"]


def stage_records(checkpoint: Path | None) -> list[dict]:
    """The per-stage records (stage, best epoch and score, per-epoch history) behind a
    checkpoint, oldest first: its ``metrics.json`` ``stages``, or for a checkpoint saved
    before they were carried, its own record after those of its ``lineage.init`` chain."""
    if checkpoint is None or not (checkpoint / METRICS).is_file():
        return []
    metrics = json.loads((checkpoint / METRICS).read_text())
    if "stages" in metrics:
        return list(metrics["stages"])
    init = json.loads((checkpoint / LINEAGE).read_text()).get("init")
    own = {k: metrics.get(k) for k in ("stage", "best_epoch", "best_val_ndcg@10", "history")}
    return [*stage_records(Path(init) if init else None), own]


def selected_epochs(checkpoint: Path) -> int:
    """How many epochs the stage behind ``checkpoint`` kept: its best epoch (0 when no epoch
    was ever better than none, e.g. a split without validation users)."""
    return max(int(json.loads((checkpoint / METRICS).read_text())["best_epoch"]), 0)


def run_stage(stage: Stage, settings: Settings, marts: MartPaths, run_date: date,
              init: Path | None, out_root: Path,
              on_epoch: Callable[[int, int, dict[str, float]], None] | None = None,
              refit_of: Path | None = None) -> Path:
    """Train ``stage`` starting from ``init`` (a checkpoint folder, or None for a fresh model);
    ``on_epoch`` hears about each epoch (see :func:`fit`).

    ``refit_of``: the same stage's checkpoint of the held-out ("selection") run. The refit
    trains on every row (the held-out users' target rows and warm users' last items too),
    with no validation, for the epochs that run selected, on the same schedule."""
    seed_everything(settings.run.seed, settings.run.threads)
    data = marts.load(settings.domains.source, settings.domains.target,
                      every_row=refit_of is not None)
    if init is None:
        model = new_model(settings, data, load_item_attributes(marts.item_features, data.vocab))
    else:
        model, vocab = load_model(init)
        if list(vocab.item_ids) != list(data.vocab.item_ids):
            raise RuntimeError(f"{init}: item vocabulary differs from this run's marts")
    device = resolve_device(settings.run.device)
    epochs = getattr(settings.train, f"{stage}_epochs")
    trainer = TRAINERS[stage](model, data, settings.train, settings.model, settings.run)
    # pretraining has no target signal yet, so it runs its fixed epochs without early stopping
    validate = None if stage == "pretrain" or refit_of is not None else (
        lambda: cold_val_ndcg(trainer.model, data, settings, device))
    stop_after = None if refit_of is None else selected_epochs(refit_of)
    result = fit(trainer, epochs, validate, settings.train.patience, on_epoch=on_epoch,
                 stop_after=stop_after, keep_start=settings.train.keep_start)
    model = trainer.model.to("cpu")
    this = {"stage": stage, "best_epoch": result.best_epoch,
            "best_val_ndcg@10": result.best_score if validate else None,
            "history": result.history}
    if refit_of is not None:
        this["refit_of"] = str(refit_of)
    # the whole training history travels with each checkpoint (and so with the version):
    # pretraining and adaptation, discriminator accuracy included, readable without work/
    metrics = {**this, "stages": [*stage_records(init), this]}
    lineage = {"run_date": run_date, "stage": stage, "init": init,
               "marts": [marts.interactions, marts.eval_split],
               "ingest_dates": [d for d in landing_partitions(Layout(settings.data_dir).landing)
                                if d <= run_date],
               "split_seed": settings.split.seed, "every_row": refit_of is not None,
               "code_version": __version__,
               "torch": torch.__version__, "device": device}
    return save_model(out_root, model, data.vocab, run_date, metrics, lineage)
