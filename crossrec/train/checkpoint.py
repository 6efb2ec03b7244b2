"""Model versions on disk: ``models/<version>/`` with safetensors weights, the config that
rebuilds the module, the item vocabulary, metrics, and where the model came from.

Versions are content-addressed (run date + hash of weights and config), written to a staging
folder and renamed into place, and never modified afterwards. Each carries ``checksums.json``
(written last), verified before a version is loaded. Loading never unpickles.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp
import torch
from safetensors.torch import load_file, save_file

from crossrec.data.vocab import Vocabulary
from crossrec.errors import CorruptModelError
from crossrec.integrity import verify, write_manifest
from crossrec.models.item_graph import ItemGraph
from crossrec.models.reranker import Reranker, RerankerConfig
from crossrec.models.two_tower import TwoTower, TwoTowerConfig
from crossrec.storage import swap_into_place

WEIGHTS, CONFIG, VOCAB, METRICS, LINEAGE = (
    "model.safetensors", "config.json", "items.parquet", "metrics.json", "lineage.json"
)
GRAPH, FUSION = "graph.safetensors", "fusion.json"
RERANKER, RERANKER_CONFIG = "reranker.safetensors", "reranker.json"
_GRAPH_PARTS = ("source_to_target", "target_to_target")


def _state(model: torch.nn.Module) -> dict:
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}


def _graph_tensors(graph: ItemGraph) -> dict[str, torch.Tensor]:
    out = {}
    for part in _GRAPH_PARTS:
        m = getattr(graph, part).tocsr()
        out.update({f"{part}.indptr": torch.from_numpy(m.indptr.astype(np.int64)),
                    f"{part}.indices": torch.from_numpy(m.indices.astype(np.int64)),
                    f"{part}.data": torch.from_numpy(m.data.astype(np.float32)),
                    f"{part}.shape": torch.tensor(m.shape, dtype=torch.int64)})
    return out


def save_model(root: Path, model: TwoTower, vocab: Vocabulary, run_date: date,
               metrics: dict[str, Any], lineage: dict[str, Any],
               graph: ItemGraph | None = None, fusion: dict[str, Any] | None = None,
               reranker: Reranker | None = None) -> Path:
    """Write a new immutable version under ``root``; returns its folder. ``graph`` and
    ``fusion`` (its settings and weight) make the version a hybrid model; ``reranker``
    reorders its cold users' top items."""
    root.mkdir(parents=True, exist_ok=True)
    remove_orphans(root)
    staging = root / f".staging-{os.getpid()}-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        save_file(_state(model), staging / WEIGHTS)
        config = model.config.model_dump_json(indent=2)
        (staging / CONFIG).write_text(config)
        vocab.to_frame().write_parquet(staging / VOCAB)
        (staging / METRICS).write_text(json.dumps(metrics, indent=2, default=str))
        (staging / LINEAGE).write_text(json.dumps(lineage, indent=2, default=str))
        content = (staging / WEIGHTS).read_bytes() + config.encode()
        if graph is not None:
            save_file(_graph_tensors(graph), staging / GRAPH)
            fused = json.dumps(fusion or {}, indent=2, sort_keys=True)
            (staging / FUSION).write_text(fused)
            content += (staging / GRAPH).read_bytes() + fused.encode()
        if reranker is not None:
            save_file(_state(reranker), staging / RERANKER)
            rconfig = reranker.config.model_dump_json(indent=2)
            (staging / RERANKER_CONFIG).write_text(rconfig)
            content += (staging / RERANKER).read_bytes() + rconfig.encode()
        write_manifest(staging)  # last: a version without it was never finished
        digest = hashlib.sha256(content).hexdigest()
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


def load_graph(folder: Path, verified: bool = False) -> tuple[ItemGraph, dict[str, Any]] | None:
    """The version's item graph and fusion settings; None for a two-tower-only version.
    ``verified``: the caller already checked the version's checksums (:func:`load_model`)."""
    if not (folder / GRAPH).exists():
        return None
    if not verified:
        verify(folder)
    t = load_file(folder / GRAPH)
    parts = {}
    for part in _GRAPH_PARTS:
        shape = tuple(int(x) for x in t[f"{part}.shape"])
        parts[part] = sp.csr_matrix((t[f"{part}.data"].numpy(), t[f"{part}.indices"].numpy(),
                                     t[f"{part}.indptr"].numpy()), shape=shape)
    return ItemGraph(**parts), json.loads((folder / FUSION).read_text())


def load_reranker(folder: Path, verified: bool = False) -> Reranker | None:
    """The version's cold-user reranker; None where it has none.
    ``verified``: the caller already checked the version's checksums (:func:`load_model`)."""
    if not (folder / RERANKER).exists():
        return None
    if not verified:
        verify(folder)
    reranker = Reranker(RerankerConfig.model_validate_json((folder / RERANKER_CONFIG).read_text()))
    reranker.load_state_dict(load_file(folder / RERANKER))
    return reranker.eval()
