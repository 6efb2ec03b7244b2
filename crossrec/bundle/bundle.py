"""The shipped model: a fine-tuned two-tower model, optionally fused with an item graph and
with its cold users' top items reordered by a reranker, as one object.

A version under ``models/<version>/`` holds the tower (``model.safetensors`` + ``config.json``
+ ``items.parquet``, as every checkpoint), ``bundle.json`` (:class:`BundleConfig`),
``graph.safetensors`` and ``reranker.safetensors`` where it has them, and ``fusion.json``:
what selection tried on the cold validation users and chose. Everything that scores a
version (publishing, evaluation, the gate, ``models promote --publish``) goes through
:meth:`Bundle.load` and :meth:`Bundle.recommender`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from safetensors.torch import load, save

from crossrec.bundle.config import FORMAT, BundleConfig, GraphPart
from crossrec.bundle.hybrid import HybridRecommender
from crossrec.bundle.remap import RemappedRecommender, to_vocab
from crossrec.bundle.rerank import RerankedRecommender, fit_signals
from crossrec.data.domain import DomainData
from crossrec.data.vocab import Vocabulary
from crossrec.errors import CorruptModelError
from crossrec.models.item_graph import ItemGraph
from crossrec.models.reranker import Reranker, RerankerConfig
from crossrec.models.tower_recommender import ModelRecommender
from crossrec.models.two_tower import TwoTower
from crossrec.ranking.recommender import Recommender
from crossrec.train.checkpoint import LINEAGE, load_model, save_model, state_tensors

BUNDLE, FUSION = "bundle.json", "fusion.json"
SELECTION_VERSION = "selection_version"
"""Key in a refit version's ``lineage.json``: the held-out version its settings were selected
on, which evaluation and the gate score in its place."""
_VERSION_NAME = re.compile(r"\d{8}-[0-9a-f]{12}")  # run date + content hash (save_model)
GRAPH, RERANKER = "graph.safetensors", "reranker.safetensors"
_LEGACY_RERANKER = "reranker.json"  # versions saved before bundle.json
_GRAPH_PARTS = ("source_to_target", "target_to_target")


def _graph_bytes(graph: ItemGraph) -> bytes:
    out = {}
    for part in _GRAPH_PARTS:
        m = getattr(graph, part).tocsr()
        out.update({f"{part}.indptr": torch.from_numpy(m.indptr.astype(np.int64)),
                    f"{part}.indices": torch.from_numpy(m.indices.astype(np.int64)),
                    f"{part}.data": torch.from_numpy(m.data.astype(np.float32)),
                    f"{part}.shape": torch.tensor(m.shape, dtype=torch.int64)})
    return save(out)


def _graph_from(blob: bytes) -> ItemGraph:
    t = load(blob)
    parts = {}
    for part in _GRAPH_PARTS:
        shape = tuple(int(x) for x in t[f"{part}.shape"])
        parts[part] = sp.csr_matrix((t[f"{part}.data"].numpy(), t[f"{part}.indices"].numpy(),
                                     t[f"{part}.indptr"].numpy()), shape=shape)
    return ItemGraph(**parts)


@dataclass(frozen=True)
class Bundle:
    """The parts of the shipped model and the config that says how they fit together."""

    tower: TwoTower
    vocab: Vocabulary
    """The item vocabulary the tower (and graph columns) were trained on."""
    config: BundleConfig
    graph: ItemGraph | None = None
    reranker: Reranker | None = None
    selection: dict[str, Any] | None = None
    """What selection tried on the cold validation users and chose (``fusion.json``)."""

    def __post_init__(self) -> None:
        if (self.graph is None) != (self.config.graph is None):
            raise ValueError("a bundle's graph and its config's graph part go together")
        if (self.reranker is None) != (self.config.reranker is None):
            raise ValueError("a bundle's reranker and its config's reranker part go together")
        if self.reranker is not None and self.graph is None:
            raise ValueError("the reranker reorders the fused model: it needs the item graph")

    # -- scoring -------------------------------------------------------------------------

    def tower_recommender(self, data: DomainData, which: str = "train",
                          device: str = "cpu") -> Recommender:
        """The two-tower model alone over ``data`` (re-indexed where the vocabularies
        differ)."""
        own = self._own(data)
        rec = ModelRecommender(self.tower, own, self.config.max_history, which=which,
                               device=device)
        return rec if own is data else RemappedRecommender(rec, data)

    def recommender(self, data: DomainData, which: str = "train", device: str = "cpu",
                    parts: str = "all") -> Recommender:
        """The bundle ranking ``data``'s target catalogue. ``parts``: ``all`` (as shipped),
        ``fused`` (without the reranker), ``graph`` (the item graph alone; its ties broken
        by the tower) or ``tower``.

        A bundle trained on another day's vocabulary (the gate's champion) scores today's
        data re-indexed into its own (:class:`RemappedRecommender`)."""
        if parts not in ("all", "fused", "graph", "tower"):
            raise ValueError(f"unknown bundle parts {parts!r}")
        own = self._own(data)
        rec: Recommender = ModelRecommender(self.tower, own, self.config.max_history,
                                            which=which, device=device)
        g = self.config.graph
        if parts != "tower" and g is not None:
            rec = HybridRecommender(rec, self.graph, 1.0 if parts == "graph" else g.weight,
                                    g.popularity)
        elif parts == "graph":
            raise ValueError("this bundle has no item graph")
        if parts == "all" and self.reranker is not None:
            # the statistics it reads come from the rows being scored, like the graph scores
            rec = RerankedRecommender(rec, self.reranker,
                                      fit_signals(own, self.reranker.config.signals))
        return rec if own is data else RemappedRecommender(rec, data)

    def recommend(self, data: DomainData, users: np.ndarray, k: int
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` target columns and scores of ``users`` over their whole known history,
        their own target items excluded (as published)."""
        rec = self.recommender(data, which="all")
        return rec.recommend(users, k, exclude=True, which="all")

    def explain(self, data: DomainData, users: np.ndarray, cols: np.ndarray,
                n: int) -> np.ndarray:
        """Up to ``n`` source items (global indices, -1: none) behind each of ``cols``."""
        return self.recommender(data, which="all").explain(users, cols, n)

    def _own(self, data: DomainData) -> DomainData:
        same = list(self.vocab.item_ids) == list(data.vocab.item_ids)
        return data if same else to_vocab(data, self.vocab)

    # -- persistence ---------------------------------------------------------------------

    def save(self, root: Path, run_date: date, metrics: dict[str, Any],
             lineage: dict[str, Any]) -> Path:
        """Write the bundle as a new immutable version under ``root``; returns its folder."""
        extras = {BUNDLE: self.config.model_dump_json(indent=2).encode()}
        if self.graph is not None:
            extras[GRAPH] = _graph_bytes(self.graph)
            extras[FUSION] = json.dumps(self.selection or {}, indent=2, sort_keys=True).encode()
        if self.reranker is not None:
            extras[RERANKER] = save(state_tensors(self.reranker))
        return save_model(root, self.tower, self.vocab, run_date, metrics, lineage, extras)

    @classmethod
    def load(cls, folder: Path, legacy_max_history: int | None = None) -> Bundle:
        """The version at ``folder``, after checking every file against its checksums.

        ``legacy_max_history``: the history length to assume for a version saved before
        bundles carried their config (without it such a version is refused)."""
        tower, vocab = load_model(folder)  # verifies the whole folder
        config = cls._config(folder, legacy_max_history)
        graph = selection = reranker = None
        if config.graph is not None:
            graph = _graph_from((folder / GRAPH).read_bytes())
            selection = json.loads((folder / FUSION).read_text())
        if config.reranker is not None:
            reranker = Reranker(config.reranker)
            reranker.load_state_dict(load((folder / RERANKER).read_bytes()))
            reranker.eval()
        return cls(tower, vocab, config, graph, reranker, selection)

    @staticmethod
    def _config(folder: Path, legacy_max_history: int | None) -> BundleConfig:
        path = folder / BUNDLE
        if path.is_file():
            raw = json.loads(path.read_text())
            if raw.get("format") != FORMAT:
                raise CorruptModelError(f"{path}: bundle format {raw.get('format')!r}; this "
                                        f"crossrec reads format {FORMAT}")
            return BundleConfig.model_validate(raw)
        if legacy_max_history is None:
            raise CorruptModelError(f"{folder}: no {BUNDLE} (saved by an older crossrec); "
                                    "pass the history length it was trained with")
        graph = reranker = None
        if (folder / GRAPH).is_file():
            fusion = json.loads((folder / FUSION).read_text())
            graph = GraphPart(alpha=fusion["alpha"], beta=fusion["beta"],
                              weight=fusion["weight"])
        if (folder / RERANKER).is_file():
            old = json.loads((folder / _LEGACY_RERANKER).read_text())
            neighbours = old.pop("neighbours", None)
            if neighbours is not None:
                old["signals"] = {"neighbours": neighbours}
            reranker = RerankerConfig.model_validate(old)
        return BundleConfig(max_history=legacy_max_history, graph=graph, reranker=reranker)


def held_out(version: Path) -> Path:
    """The version whose numbers stand for ``version``: for a refit (trained on every row,
    the evaluation users' held-out rows included) the held-out version it was selected on,
    beside it; otherwise the version itself."""
    lineage = version / LINEAGE
    name = json.loads(lineage.read_text()).get(SELECTION_VERSION) if lineage.is_file() else None
    if name is None:
        return version
    # a name from a file: only a version name (run date + content hash) may become a path
    if not isinstance(name, str) or not _VERSION_NAME.fullmatch(name) \
            or not (selection := version.parent / name).is_dir():
        raise CorruptModelError(f"{lineage}: its held-out version {name!r} is not in "
                                f"{version.parent}")
    return selection
