"""Assembling the bundle from a fine-tuned two-tower checkpoint: build the item graph, pick
its exponents and the fusion weight, train the cold-user reranker and keep it only where it
helps, all judged on the cold *validation* users (never the test users).

Selection needs held-out rows; the shipped model should not lose them. :func:`refit_bundle`
rebuilds the selected bundle around a tower refit on every row: the same parts with the same
settings, the graph and reranker fitted on every row too, no choice made again."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from crossrec.bundle import prior
from crossrec.bundle.bundle import SELECTION_VERSION, Bundle
from crossrec.bundle.config import BundleConfig, GraphPart
from crossrec.bundle.hybrid import HybridRecommender
from crossrec.bundle.rerank import RerankedRecommender, fit_signals
from crossrec.config import AssemblyConfig, DomainsConfig, RunOptions
from crossrec.data.domain import DomainData
from crossrec.data.marts import MartPaths
from crossrec.data.sparse import SOURCE, TARGET, domain_matrix
from crossrec.data.vocab import Vocabulary
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
from crossrec.train.stages import stage_records


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


def add_prior(tower: TwoTower, graph: ItemGraph, part: GraphPart, selection: dict[str, Any],
              data: DomainData, max_history: int, cfg: AssemblyConfig,
              run: RunOptions) -> GraphPart:
    """``part`` with the popularity prior's weight chosen by cross-validation (``prior.py``);
    ``selection`` gains the record, with the validation score of the fused model with the
    prior beside it. ``val_ndcg@10`` (what the reranker must beat) stays the score without
    the prior: the prior was chosen because those users cannot judge it, so it must not move
    the reranker's choice either (measured: on sport->phone with few users in both domains,
    the prior's chance drop on 32 validation users let a reranker trained on 41 users ship,
    and the hidden users lost a quarter of their NDCG@10)."""
    weights = cfg.popularity_weights
    if part.weight == 0.0 or list(weights) == [0.0]:  # no graph score to put a prior beside
        selection["popularity"] = {"weight": 0.0, "reason": "no graph in the fused score"
                                   if part.weight == 0.0 else "off ([bundle] popularity_weights)"}
        return part
    tried = prior.cross_validate(data, part.alpha, part.beta, weights, cfg.popularity_folds,
                                 run.seed)
    chosen = prior.choose(tried)
    record: dict[str, Any] = {"weight": chosen,
                              "cv_ndcg@10_tried": {f"popularity={w}": s for w, s in tried.items()}}
    if not tried:
        record["reason"] = (f"fewer than {2 * cfg.popularity_folds} users in both domains to "
                            "cross-validate on")
    selection["popularity"] = record
    if chosen == 0.0:
        return part
    part = part.model_copy(update={"popularity": chosen})
    rec = HybridRecommender(ModelRecommender(tower, data, max_history), graph, part.weight,
                            chosen)
    record["val_ndcg@10_with_prior"] = evaluate(rec, "cold_val")["ndcg@10"]
    return part


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
    fused, signals = base.recommender(data), fit_signals(data, config.signals)
    tried, best = {}, None
    for weight in cfg.rerank_base_weights:  # on a tie the earlier weight is kept
        reranker.config = config.model_copy(update={"base_weight": weight})
        tried[f"base_weight={weight}"] = score = evaluate(
            RerankedRecommender(fused, reranker, signals), "cold_val")["ndcg@10"]
        if best is None or score > best[0]:
            best = (score, reranker.config)
    score, reranker.config = best
    used = score > base.selection["val_ndcg@10"]
    return (reranker if used else None), {"used": used, "val_ndcg@10": score,
                                          "base_weight": reranker.config.base_weight,
                                          "val_ndcg@10_tried": tried,
                                          "pseudo_cold_users": len(x)}


def assemble(tower: TwoTower, data: DomainData, max_history: int, cfg: AssemblyConfig,
             run: RunOptions) -> Bundle:
    """The bundle of a fine-tuned ``tower`` (fed ``max_history`` items per domain) over
    ``data``, its parts chosen on the cold validation users as ``cfg`` asks."""
    bundle = Bundle(tower, data.vocab, BundleConfig(max_history=max_history))
    if not cfg.graph:
        return bundle
    graph, part, selection = fuse(tower, data, max_history, cfg, run.progress)
    part = add_prior(tower, graph, part, selection, data, max_history, cfg, run)
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


def _tower(checkpoint: Path, data: DomainData) -> tuple[TwoTower, Vocabulary]:
    """The checkpoint's tower and vocabulary, which must be ``data``'s."""
    tower, vocab = load_model(checkpoint)
    if list(vocab.item_ids) != list(data.vocab.item_ids):
        raise RuntimeError(f"{checkpoint}: item vocabulary differs from this run's marts")
    return tower, vocab


def build_bundle(checkpoint: Path, marts: MartPaths, domains: DomainsConfig,
                 max_history: int, cfg: AssemblyConfig, run: RunOptions, run_date: date,
                 out_root: Path) -> Path:
    """Assemble the fine-tuned ``checkpoint`` into the shipped model and save it as a new
    version under ``out_root``; its metrics are the checkpoint's plus the selection record
    (``fusion``), its lineage the checkpoint's."""
    seed_everything(run.seed, run.threads)
    data = marts.load(domains.source, domains.target)
    tower, vocab = _tower(checkpoint, data)
    bundle = assemble(tower, data, max_history, cfg, run)
    metrics = json.loads((checkpoint / METRICS).read_text())
    if bundle.selection is not None:
        metrics["fusion"] = bundle.selection
    lineage = json.loads((checkpoint / LINEAGE).read_text())
    return bundle.save(out_root, run_date, metrics, lineage)


def refit_bundle(selection: Path, checkpoint: Path, marts: MartPaths, domains: DomainsConfig,
                 cfg: AssemblyConfig, run: RunOptions, run_date: date, out_root: Path) -> Path:
    """The shipped version: the bundle of the held-out version ``selection`` with its tower
    replaced by ``checkpoint`` (refit on every row), its item graph rebuilt on every row with
    the selected exponents and weight, and its reranker (if selection kept one) retrained on
    every row. Its metrics are the selection version's (the held-out numbers) plus the refit's
    stages; its lineage names the selection version, which evaluation and the gate use."""
    seed_everything(run.seed, run.threads)
    data = marts.load(domains.source, domains.target, every_row=True)
    tower, vocab = _tower(checkpoint, data)
    chosen = Bundle.load(selection)
    g, graph, reranker = chosen.config.graph, None, None
    if g is not None:
        graph = ItemGraph.build(data, g.alpha, g.beta)
    if chosen.reranker is not None:
        config = chosen.reranker.config
        x, y = pseudo_cold_table(domain_matrix(data, SOURCE), domain_matrix(data, TARGET),
                                 config, cfg.rerank_folds, run.seed, progress=run.progress)
        reranker = fit_reranker(x, y, config, cfg.rerank_epochs, run.seed,
                                progress=run.progress)
    bundle = Bundle(tower, vocab, chosen.config, graph, reranker, chosen.selection)
    metrics = json.loads((selection / METRICS).read_text())
    metrics["refit"] = {"selection_version": selection.name,
                        "stages": stage_records(checkpoint)}
    lineage = {**json.loads((checkpoint / LINEAGE).read_text()),
               SELECTION_VERSION: selection.name}
    return bundle.save(out_root, run_date, metrics, lineage)
