"""Assembling the bundle from a fine-tuned two-tower checkpoint: build the item graph, pick
its exponents and the fusion weight, train the cold-user reranker and keep it only where it
helps, all judged on the cold *validation* users (never the test users)."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from crossrec.bundle.bundle import Bundle
from crossrec.bundle.config import BundleConfig, GraphPart
from crossrec.bundle.hybrid import HybridRecommender
from crossrec.bundle.rerank import RerankedRecommender, fit_signals
from crossrec.config import AssemblyConfig, DomainsConfig, RunOptions
from crossrec.data.domain import DomainData
from crossrec.data.marts import MartPaths
from crossrec.data.sparse import SOURCE, TARGET, domain_matrix
from crossrec.metrics.protocol import evaluate
from crossrec.models.cold_signals import SignalsConfig
from crossrec.models.item_graph import ItemGraph
from crossrec.models.reranker import Reranker, RerankerConfig
from crossrec.models.tower_recommender import ModelRecommender
from crossrec.models.two_tower import TwoTower
from crossrec.progress import progress_bar
from crossrec.train.base import seed_everything
from crossrec.train.checkpoint import LINEAGE, METRICS, load_model
from crossrec.train.rerank import TooFewPseudoColdUsers, fit_reranker, pseudo_cold_table


def fuse(tower: TwoTower, data: DomainData, max_history: int, cfg: AssemblyConfig,
         progress: bool) -> tuple[ItemGraph, GraphPart, dict[str, Any]]:
    """Build the item graph for each (alpha, beta) of the grid and pick it and the fusion
    weight; returns the graph, its part of the config, and what was tried."""
    rec = ModelRecommender(tower, data, max_history)
    best, tried = None, {}
    grid = list(itertools.product(cfg.graph_alphas, cfg.graph_betas))
    with progress_bar("fusion grid", len(grid) * len(cfg.fusion_weights), progress) as advance:
        for alpha, beta in grid:
            graph = ItemGraph.build(data, alpha, beta)
            for w in cfg.fusion_weights:
                score = evaluate(HybridRecommender(rec, graph, w), "cold_val")["ndcg@10"]
                tried[f"alpha={alpha} beta={beta} weight={w}"] = score
                # on a tie, the earlier candidate (larger two-tower share)
                if best is None or score > best[0]:
                    best = (score, alpha, beta, w, graph)
                advance()
    score, alpha, beta, weight, graph = best
    part = GraphPart(alpha=alpha, beta=beta, weight=weight)
    return graph, part, {"weight": weight, "alpha": alpha, "beta": beta,
                         "val_ndcg@10": score, "val_ndcg@10_tried": tried}


def select_reranker(base: Bundle, data: DomainData, cfg: AssemblyConfig,
                    run: RunOptions) -> tuple[Reranker | None, dict[str, Any]]:
    """Train the cold-user reranker on pseudo-cold users; keep it only where it beats the
    fused ``base`` on the cold validation users. Returns it (or None) and the record."""
    config = RerankerConfig(candidates=cfg.rerank_candidates,
                            signals=SignalsConfig(neighbours=cfg.rerank_neighbours))
    source, target = domain_matrix(data, SOURCE), domain_matrix(data, TARGET)
    try:
        x, y = pseudo_cold_table(source, target, config, cfg.rerank_folds, run.seed,
                                 progress=run.progress)
        reranker = fit_reranker(x, y, config, cfg.rerank_epochs, run.seed,
                                progress=run.progress)
    except TooFewPseudoColdUsers as exc:
        return None, {"used": False, "reason": str(exc)}
    fused = base.recommender(data)
    score = evaluate(RerankedRecommender(fused, reranker, fit_signals(data, config.signals)),
                     "cold_val")["ndcg@10"]
    used = score > base.selection["val_ndcg@10"]
    return (reranker if used else None), {"used": used, "val_ndcg@10": score,
                                          "pseudo_cold_users": len(x)}


def assemble(tower: TwoTower, data: DomainData, max_history: int, cfg: AssemblyConfig,
             run: RunOptions) -> Bundle:
    """The bundle of a fine-tuned ``tower`` (fed ``max_history`` items per domain) over
    ``data``, its parts chosen on the cold validation users as ``cfg`` asks."""
    bundle = Bundle(tower, data.vocab, BundleConfig(max_history=max_history))
    if not cfg.graph:
        return bundle
    graph, part, selection = fuse(tower, data, max_history, cfg, run.progress)
    bundle = replace(bundle, graph=graph, selection=selection,
                     config=bundle.config.model_copy(update={"graph": part}))
    if not cfg.rerank:
        return bundle
    reranker, record = select_reranker(bundle, data, cfg, run)
    selection["rerank"] = record
    if reranker is None:
        return bundle
    return replace(bundle, reranker=reranker,
                   config=bundle.config.model_copy(update={"reranker": reranker.config}))


def build_bundle(checkpoint: Path, marts: MartPaths, domains: DomainsConfig,
                 max_history: int, cfg: AssemblyConfig, run: RunOptions, run_date: date,
                 out_root: Path) -> Path:
    """Assemble the fine-tuned ``checkpoint`` into the shipped model and save it as a new
    version under ``out_root``; its metrics are the checkpoint's plus the selection record
    (``fusion``), its lineage the checkpoint's."""
    seed_everything(run.seed, run.threads)
    data = marts.load(domains.source, domains.target)
    tower, vocab = load_model(checkpoint)
    if list(vocab.item_ids) != list(data.vocab.item_ids):
        raise RuntimeError(f"{checkpoint}: item vocabulary differs from this run's marts")
    bundle = assemble(tower, data, max_history, cfg, run)
    metrics = json.loads((checkpoint / METRICS).read_text())
    if bundle.selection is not None:
        metrics["fusion"] = bundle.selection
    lineage = json.loads((checkpoint / LINEAGE).read_text())
    return bundle.save(out_root, run_date, metrics, lineage)
