"""Assembling the bundle from a fine-tuned two-tower checkpoint: choose the item graph and the
popularity prior of cold users by cross-validation over the users in both domains
(``crossval.py``), pick the fusion weight, train the cold-user reranker and keep it only where
it helps, these two judged on the cold *validation* users (never the test users).

Selection needs held-out rows; the shipped model should not lose them. :func:`refit_bundle`
rebuilds the selected bundle around a tower refit on every row: the same parts with the same
settings, the graph and reranker fitted on every row too, no choice made again."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from crossrec.bundle import crossval
from crossrec.bundle.bundle import SELECTION_VERSION, Bundle
from crossrec.bundle.config import BundleConfig, GraphPart
from crossrec.bundle.hybrid import HybridRecommender
from crossrec.bundle.rerank import RerankedRecommender, fit_signals
from crossrec.config import AssemblyConfig, DomainsConfig, RunOptions
from crossrec.data.domain import DomainData
from crossrec.data.marts import MartPaths
from crossrec.data.sparse import SOURCE, TARGET, domain_matrix
from crossrec.data.vocab import Vocabulary
from crossrec.metrics.protocol import evaluate, paired_se
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


def choose_graph(data: DomainData, cfg: AssemblyConfig,
                 run: RunOptions) -> tuple[list[GraphPart], dict[str, Any]]:
    """The candidate graphs left for :func:`fuse`: the one (with its popularity prior)
    cross-validation chose over the users in both domains (``crossval.py``), or every
    candidate, without a prior, where too few such users exist; and the record."""
    parts = crossval.candidates(cfg.graph_alphas, cfg.graph_betas, cfg.graph_neighbours,
                                cfg.graph_shrink)
    weights = cfg.popularity_weights
    if len(parts) == 1 and len(weights) == 1:
        return [parts[0].model_copy(update={"popularity": weights[0]})], {
            "reason": "one graph and one prior weight configured: nothing to choose"}
    scores = crossval.cross_validate(data, parts, weights, cfg.graph_folds, run.seed)
    record: dict[str, Any] = {"folds": cfg.graph_folds, "cv_ndcg@10_tried": {
        f"{parts[p].label()} popularity={w}": score for (p, w), score in scores.items()}}
    choice = crossval.choose(scores)
    if choice is None:
        record["reason"] = (f"fewer than {2 * cfg.graph_folds} users in both domains to "
                            "cross-validate on: the graph is chosen on the cold validation "
                            "users, without a popularity prior")
        return parts, record
    p, weight = choice
    record.update({"graph": parts[p].label(), "popularity": weight,
                   "cv_ndcg@10": scores[choice]})
    return [parts[p].model_copy(update={"popularity": weight})], record


def fuse(tower: TwoTower, data: DomainData, parts: list[GraphPart], max_history: int,
         cfg: AssemblyConfig, progress: bool) -> tuple[ItemGraph, GraphPart, dict[str, Any]]:
    """Build each candidate graph and pick it and the fusion weight on the cold validation
    users; returns the graph, its part of the config, and what was tried.

    The fusion weight is chosen without the popularity prior: the prior was chosen because
    those users cannot judge it, so it must not move the weight either. ``val_ndcg@10`` is
    that score, ``val_ndcg@10_with_prior`` the shipped fused model's; the reranker must beat
    both (:func:`select_reranker`)."""
    rec = ModelRecommender(tower, data, max_history)
    best, tried = None, {}
    with progress_bar("fusion grid", len(parts) * len(cfg.fusion_weights), progress) as advance:
        for part in parts:
            graph = part.build(data)
            for w in cfg.fusion_weights:
                score = evaluate(HybridRecommender(rec, graph, w), "cold_val")["ndcg@10"]
                tried[f"{part.label()} weight={w}"] = score
                # on a tie, the earlier candidate (larger two-tower share)
                if best is None or score > best[0]:
                    best = (score, part.model_copy(update={"weight": w}), graph)
                advance()
    score, part, graph = best
    if part.weight == 0.0:  # no graph score to put a prior beside
        part = part.model_copy(update={"popularity": 0.0})
    selection = {"graph": part.label(), "weight": part.weight, "popularity": part.popularity,
                 "val_ndcg@10": score, "val_ndcg@10_tried": tried}
    if part.popularity > 0.0:
        selection["val_ndcg@10_with_prior"] = evaluate(
            HybridRecommender(rec, graph, part.weight, part.popularity), "cold_val")["ndcg@10"]
    return graph, part, selection


def select_reranker(base: Bundle, data: DomainData, cfg: AssemblyConfig,
                    run: RunOptions) -> tuple[Reranker | None, dict[str, Any]]:
    """Train the cold-user reranker on pseudo-cold users; keep it only where it beats the
    fused ``base`` on the cold validation users, scored with and without its popularity
    prior, by more than ``cfg.rerank_margin`` standard errors of the user-by-user difference.
    Returns it (or None) and the record.

    Why both: the validation users cannot judge the prior, so neither its chance drop nor its
    chance gain may decide. Why the margin: with few users in both domains there are a few
    dozen validation users, and a reranker trained on a few dozen pseudo-cold users wins on
    them by chance (measured on sport->phone with a tenth of the users in both domains: such
    a reranker shipped twice, and the hidden users lost a quarter and then half of their
    NDCG@10)."""
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
        result = evaluate(RerankedRecommender(fused, reranker, signals), "cold_val",
                          per_user=True)
        tried[f"base_weight={weight}"] = result["ndcg@10"]
        if best is None or result["ndcg@10"] > best[0]["ndcg@10"]:
            best = (result, reranker.config)
    result, reranker.config = best
    ours = result["per_user"]["ndcg@10"]
    references = {"without_prior": HybridRecommender(fused.model_rec, fused.graph, fused.weight)}
    if fused.popularity > 0.0:
        references["with_prior"] = fused
    margins = {}
    for name, rec in references.items():
        theirs = evaluate(rec, "cold_val", per_user=True)["per_user"]["ndcg@10"]
        margins[name] = {"gain": float(np.mean(ours - theirs)) if len(ours) else 0.0,
                         "paired_se": paired_se(ours, theirs)}
    # a NaN standard error (fewer than two users) compares False: nothing to ship on
    used = all(m["gain"] > cfg.rerank_margin * m["paired_se"] and m["gain"] > 0.0
               for m in margins.values())
    return (reranker if used else None), {"used": used, "val_ndcg@10": result["ndcg@10"],
                                          "against_fused": margins,
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
    parts, crossval_record = choose_graph(data, cfg, run)
    graph, part, selection = fuse(tower, data, parts, max_history, cfg, run.progress)
    selection["crossval"] = crossval_record
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
        graph = g.build(data)
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
