"""Model versions on disk: ``models/<version>/`` with safetensors weights, the config that
rebuilds the module, the item vocabulary, metrics, and where the model came from.

Versions are content-addressed (run date + hash of weights and config), written to a staging
folder and renamed into place, and never modified afterwards. Each carries ``checksums.json``
(written last), verified before a version is loaded. Loading never unpickles.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import torch
from safetensors.torch import load_file, save_file

from crossrec.data.vocab import Vocabulary
from crossrec.errors import CorruptModelError
from crossrec.integrity import NAMED, content_digest, verify, write_manifest
from crossrec.models.two_tower import TwoTower, TwoTowerConfig
from crossrec.storage import swap_into_place

WEIGHTS, CONFIG, VOCAB, METRICS, LINEAGE = (
    "model.safetensors", "config.json", "items.parquet", "metrics.json", "lineage.json"
)


def state_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The module's parameters and buffers as contiguous CPU tensors (what safetensors saves)."""
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}


def save_model(root: Path, model: TwoTower, vocab: Vocabulary, run_date: date,
               metrics: dict[str, Any], lineage: dict[str, Any],
               extras: dict[str, bytes] | None = None) -> Path:
    """Write a new immutable version under ``root``; returns its folder. ``extras`` are more
    files of the version (name -> content: a bundle's other parts and its config); like the
    weights and the config they are part of the version's name."""
    root.mkdir(parents=True, exist_ok=True)
    remove_orphans(root)
    staging = root / f".staging-{os.getpid()}-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        save_file(state_tensors(model), staging / WEIGHTS)
        config = model.config.model_dump_json(indent=2)
        (staging / CONFIG).write_text(config)
        vocab.to_frame().write_parquet(staging / VOCAB)
        (staging / METRICS).write_text(json.dumps(metrics, indent=2, default=str))
        (staging / LINEAGE).write_text(json.dumps(lineage, indent=2, default=str))
        for name, blob in (extras or {}).items():
            if name not in NAMED:  # anything else would not be part of the version's name
                raise ValueError(f"invalid extra file name {name!r} (one of {NAMED})")
            (staging / name).write_bytes(blob)
        write_manifest(staging)  # last: a version without it was never finished
        digest = content_digest(staging)
        version = f"{run_date:%Y%m%d}-{digest[:12]}"
        final = root / version
        if final.exists() and _intact(final):  # identical weights and config: it exists
            shutil.rmtree(staging)
        elif final.exists():  # damaged, or saved before checksums: replace it whole
            swap_into_place(staging, final)
        else:
            os.replace(staging, final)
        return final
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _intact(folder: Path) -> bool:
    try:
        verify(folder)
    except CorruptModelError:
        return False
    return True


def remove_orphans(root: Path) -> list[Path]:
    """Delete staging folders left by writers that died (SIGKILL, power loss); a live
    process's folder is left alone. Returns what was removed."""
    removed = []
    for folder in root.glob(".staging-*"):
        pid = folder.name.split("-")[1]
        if pid.isdigit() and _alive(int(pid)):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def load_model(folder: Path) -> tuple[TwoTower, Vocabulary]:
    """Rebuild the module from its own config and load its weights (no pickle involved),
    after checking every file of the version against its checksums."""
    verify(folder)
    config = TwoTowerConfig.model_validate_json((folder / CONFIG).read_text())
    model = TwoTower(config)
    model.load_state_dict(load_file(folder / WEIGHTS))
    vocab = Vocabulary.from_frame(pl.read_parquet(folder / VOCAB), config.domains)
    return model, vocab
