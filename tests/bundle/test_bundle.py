"""The shipped model as one object: its config travels with it, its parts fit together, and
older versions still load."""

import json

import numpy as np
import pytest
import torch

from crossrec.bundle.bundle import BUNDLE, Bundle
from crossrec.bundle.config import BundleConfig, GraphPart
from crossrec.bundle.hybrid import HybridRecommender
from crossrec.bundle.rerank import RerankedRecommender
from crossrec.errors import CorruptModelError
from crossrec.integrity import content_digest, write_manifest
from crossrec.models.item_graph import ItemGraph
from crossrec.models.reranker import Reranker, RerankerConfig
from crossrec.models.tower_recommender import ModelRecommender
from crossrec.train.stages import new_model
from tests.conftest import RUN_DATE, tiny_settings
from tests.score.test_rerank import small_world

GRAPH = GraphPart(alpha=0.5, beta=0.3, weight=0.7)


@pytest.fixture
def data(tmp_path):
    return small_world(tmp_path)


def full_bundle(data, tmp_path, max_history=7) -> Bundle:
    torch.manual_seed(0)
    model = new_model(tiny_settings(tmp_path / "d"), data)
    reranker = Reranker(RerankerConfig(candidates=4)).eval()
    config = BundleConfig(max_history=max_history, graph=GRAPH, reranker=reranker.config)
    return Bundle(model, data.vocab, config, ItemGraph.build(data, 0.5, 0.3), reranker,
                  {"weight": 0.7, "alpha": 0.5, "beta": 0.3, "val_ndcg@10": 0.1})


def reseal(folder):
    """What a genuine writer of these files would have left: a fresh manifest and the name
    its content hashes to (a version's name is part of its integrity check)."""
    write_manifest(folder)
    return folder.rename(folder.with_name(f"{folder.name[:8]}-{content_digest(folder)[:12]}"))


def test_the_bundle_scores_with_its_own_history_length(data, tmp_path):
    folder = full_bundle(data, tmp_path, max_history=7).save(tmp_path / "m", RUN_DATE, {}, {})
    saved = json.loads((folder / BUNDLE).read_text())
    assert saved["max_history"] == 7 and saved["graph"]["weight"] == 0.7
    assert saved["reranker"]["signals"]["walk_alpha"] == 0.5  # the signals' numbers too
    # the legacy fallback is ignored when the version carries its own config
    rec = Bundle.load(folder, legacy_max_history=50).recommender(data, parts="tower")
    assert isinstance(rec, ModelRecommender) and rec.max_history == 7


def test_parts_assemble_as_asked(data, tmp_path):
    bundle = full_bundle(data, tmp_path)
    shipped = bundle.recommender(data)
    assert isinstance(shipped, RerankedRecommender)
    fused = bundle.recommender(data, parts="fused")
    assert isinstance(fused, HybridRecommender) and fused.weight == 0.7
    assert bundle.recommender(data, parts="graph").weight == 1.0
    with pytest.raises(ValueError, match="unknown bundle parts"):
        bundle.recommender(data, parts="everything")
    tower_only = Bundle(bundle.tower, bundle.vocab, BundleConfig(max_history=7))
    with pytest.raises(ValueError, match="no item graph"):
        tower_only.recommender(data, parts="graph")


def test_parts_and_config_must_agree(data, tmp_path):
    bundle = full_bundle(data, tmp_path)
    with pytest.raises(ValueError, match="graph"):
        Bundle(bundle.tower, bundle.vocab, bundle.config, None, bundle.reranker)
    with pytest.raises(ValueError, match="reranker"):
        Bundle(bundle.tower, bundle.vocab, bundle.config, bundle.graph, None)


def test_recommend_and_explain_agree_with_the_recommender(data, tmp_path):
    bundle = full_bundle(data, tmp_path)
    users = np.arange(len(data.users))
    cols, scores = bundle.recommend(data, users, 3)
    rec = bundle.recommender(data, which="all")
    want_cols, want_scores = rec.recommend(users, 3, which="all")
    assert np.array_equal(cols, want_cols) and np.array_equal(scores, want_scores)
    why = bundle.explain(data, users, cols, 2)
    assert np.array_equal(why, rec.explain(users, cols, 2))
    s0, s1 = data.vocab.domain_ranges[0]
    for u in users:  # explanations are the user's own source items
        named = why[u][why[u] >= 0]
        assert set(named) <= set(data.all_hist["sport"][u]) and ((named >= s0) & (named < s1)).all()


def test_a_version_saved_before_bundles_loads_with_the_fallback(data, tmp_path):
    bundle = full_bundle(data, tmp_path)
    folder = bundle.save(tmp_path / "m", RUN_DATE, {}, {})
    # as an older crossrec wrote it: no bundle.json, the reranker's config beside its weights
    (folder / BUNDLE).unlink()
    old = bundle.reranker.config.model_dump()
    old["neighbours"] = old.pop("signals")["neighbours"]
    (folder / "reranker.json").write_text(json.dumps(old))
    folder = reseal(folder)
    with pytest.raises(CorruptModelError, match="no bundle.json"):
        Bundle.load(folder)
    legacy = Bundle.load(folder, legacy_max_history=9)
    assert legacy.config.max_history == 9 and legacy.config.graph == GRAPH
    assert legacy.config.reranker == bundle.reranker.config


def test_an_unknown_format_is_refused(data, tmp_path):
    folder = full_bundle(data, tmp_path).save(tmp_path / "m", RUN_DATE, {}, {})
    raw = json.loads((folder / BUNDLE).read_text())
    (folder / BUNDLE).write_text(json.dumps({**raw, "format": 2}))
    folder = reseal(folder)
    with pytest.raises(CorruptModelError, match="bundle format 2"):
        Bundle.load(folder)
