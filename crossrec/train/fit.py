"""One generic fit loop for every stage: epochs, early stopping, best-epoch restore."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import torch

log = logging.getLogger(__name__)


class Trainer(Protocol):
    model: torch.nn.Module

    def train_epoch(self, epoch: int, epochs: int) -> dict[str, float]: ...


@dataclass
class FitResult:
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    best_score: float = float("-inf")


def fit(trainer: Trainer, epochs: int, validate: Callable[[], float] | None = None,
        patience: int = 3, metric: str = "val_ndcg@10",
        on_epoch: Callable[[int, int, dict[str, float]], None] | None = None,
        stop_after: int | None = None, keep_start: bool = False) -> FitResult:
    """Train up to ``epochs``; with ``validate``, keep (and restore) the best epoch and stop
    after ``patience`` epochs without improvement. Without it, the last epoch is kept.
    ``on_epoch(done, epochs, logs)`` is told after each epoch (progress reporting).
    ``stop_after``: end after that many epochs, with the schedules still spread over
    ``epochs`` (a refit repeating a selected run up to its best epoch). ``keep_start`` (with
    ``validate``): the starting point is scored too, and kept (best epoch 0) when no epoch
    beats it."""
    result = FitResult()
    best_state = copy.deepcopy(trainer.model.state_dict())
    waited = 0
    if validate is not None and keep_start:
        result.best_score, result.best_epoch = float(validate()), 0
        result.history.append({"epoch": 0.0, metric: result.best_score})
    last = epochs if stop_after is None else min(stop_after, epochs)
    for epoch in range(last):
        logs = {"epoch": float(epoch + 1), **trainer.train_epoch(epoch, epochs)}
        if validate is not None:
            logs[metric] = score = float(validate())
            if score > result.best_score:
                result.best_score, result.best_epoch, waited = score, epoch + 1, 0
                best_state = copy.deepcopy(trainer.model.state_dict())
            else:
                waited += 1
        else:
            result.best_epoch = epoch + 1
            best_state = trainer.model.state_dict()
        result.history.append(logs)
        if on_epoch is not None:
            on_epoch(epoch + 1, last, logs)
        log.info("epoch %d/%d %s", epoch + 1, last,
                 " ".join(f"{k}={v:.4f}" for k, v in logs.items() if k != "epoch"))
        if validate is not None and waited >= patience:
            break
    trainer.model.load_state_dict(best_state)
    return result
