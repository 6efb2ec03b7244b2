"""Our model's final score: the two-tower score fused with the item graph's.

Both are standardised per user (zero mean, unit variance over the target catalogue) before a
weighted sum, so the weight means the same thing for every user and model version. The weight
is chosen on the cold *validation* users (model selection, never the test users) and saved with
the model version.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from crossrec.data.domain import DomainData
from crossrec.data.sparse import interaction_matrix
from crossrec.models.item_graph import ItemGraph
from crossrec.models.tower_recommender import ModelRecommender
from crossrec.ranking.recommender import Recommender
from crossrec.score.remap import RemappedRecommender, to_vocab
from crossrec.score.rerank import RerankedRecommender, fit_signals
from crossrec.train.checkpoint import load_graph, load_model, load_reranker

WEIGHT_GRID = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0)
"""Fusion weights tried on the validation users: denser near 0, where the sparse graph
scores (large z-scores on the few items they reach) start to dominate the ranking."""


def standardise(scores: torch.Tensor) -> torch.Tensor:
    """Per-row z-scores; a constant row becomes all zeros."""
    mean = scores.mean(dim=1, keepdim=True)
    std = scores.std(dim=1, keepdim=True).nan_to_num(0.0)
    return (scores - mean) / std.clamp_min(1e-12) * (std > 0)


class HybridRecommender(Recommender):
    """``(1 - weight) * z(two-tower) + weight * z(item graph)``; weight 0 is the two-tower
    model alone, 1 the graph alone (the two-tower then only orders items the graph ties)."""

    score_copies = 5  # tower, graph, their z-scores and the sum

    def __init__(self, model_rec: ModelRecommender, graph: ItemGraph, weight: float):
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"fusion weight must be in [0, 1], got {weight}")
        self.model_rec, self.graph, self.weight = model_rec, graph, weight
        self.data, self.which = model_rec.data, model_rec.which

    def graph_scores(self, users: np.ndarray) -> torch.Tensor:
        data = self.data
        hist = data.train_hist if self.which == "train" else data.all_hist
        (s0, s1), (t0, t1) = data.vocab.domain_ranges
        src = interaction_matrix([hist[data.source][u] for u in users], s0, s1 - s0)
        tgt = interaction_matrix([hist[data.target][u] for u in users], t0, t1 - t0)
        return torch.from_numpy(self.graph.scores(src, tgt))

    def score(self, users: np.ndarray) -> torch.Tensor:
        tower = self.model_rec.score(users).float()
        if self.weight == 0.0:
            return tower
        fused = self.weight * standardise(self.graph_scores(users).float())
        # at weight 1 the tower still breaks the graph's ties, with a vanishing share
        share = max(1.0 - self.weight, 1e-3)
        return fused + share * standardise(tower)


def load_recommender(folder: Path, data: DomainData, max_history: int, which: str = "train",
                     device: str = "cpu") -> Recommender:
    """The model version at ``folder`` as a recommender: hybrid where the version carries an
    item graph, the two-tower model alone otherwise, with its cold users reranked where it
    carries a reranker. A version trained on another item vocabulary is re-indexed onto
    ``data`` (:class:`RemappedRecommender`)."""
    model, vocab = load_model(folder)
    same = list(vocab.item_ids) == list(data.vocab.item_ids)
    # a version from an earlier run (the gate's champion) scores today's data re-indexed
    own = data if same else to_vocab(data, vocab)
    tower = ModelRecommender(model, own, max_history, which=which, device=device)
    saved = load_graph(folder, verified=True)
    rec: Recommender = tower
    if saved is not None:
        graph, fusion = saved
        rec = HybridRecommender(tower, graph, float(fusion["weight"]))
    reranker = load_reranker(folder, verified=True)
    if reranker is not None:
        # the statistics it reads come from the rows being scored, like the graph scores
        rec = RerankedRecommender(rec, reranker, fit_signals(own, reranker.config.neighbours))
    return rec if same else RemappedRecommender(rec, data)
