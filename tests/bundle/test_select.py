"""Selection of the bundle's parts: the reranker is trained only on enough pseudo-cold users."""

import torch

from crossrec.bundle.bundle import Bundle
from crossrec.bundle.config import BundleConfig, GraphPart
from crossrec.bundle.select import select_reranker
from crossrec.config import AssemblyConfig, RunOptions
from crossrec.models.item_graph import ItemGraph
from crossrec.train.stages import new_model
from tests.conftest import tiny_settings
from tests.evaluate.test_tuned_baselines import world


def test_a_reranker_needs_enough_pseudo_cold_users(tmp_path):
    data = world(tmp_path)  # 240 users in both domains, 60 cold validation users
    torch.manual_seed(0)
    model = new_model(tiny_settings(tmp_path / "d"), data)
    base = Bundle(model, data.vocab,
                  BundleConfig(max_history=20, graph=GraphPart(alpha=0.5, beta=0.0, weight=1.0)),
                  ItemGraph.build(data, 0.5, 0.0), None, {"val_ndcg@10": 0.0})
    run = RunOptions(seed=0, progress=False)
    trained, record = select_reranker(base, data, AssemblyConfig(rerank_min_users=1,
                                                                 rerank_epochs=1), run)
    users = record["pseudo_cold_users"]
    assert 0 < users <= 240 and trained is not None  # beats a base scored 0 on validation
    refused, record = select_reranker(
        base, data, AssemblyConfig(rerank_min_users=users + 1, rerank_epochs=1), run)
    assert refused is None and not record["used"]
    assert f"{users} pseudo-cold users" in record["reason"]
    assert f"rerank_min_users = {users + 1}" in record["reason"]
