"""The whole protocol on a small synthetic world, through the library and the command line."""

import json

import pytest
from typer.testing import CliRunner

from crossrec.cli import app
from crossrec.evaluate.compare import compare, table
from crossrec.evaluate.methods import ABLATIONS, with_overrides
from tests.conftest import RUN_DATE, tiny_settings

METHODS = {"crossrec", "crossrec_two_tower_only", "crossrec_graph_only", "popularity",
           "cooccurrence_knn", "cmf_als", "emcdr", "cooc_pop_blend", "rp3beta", "kernel_ridge",
           "user_knn"}
RERANKED = "crossrec_no_rerank"  # listed where the version ships a reranker


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    settings = tiny_settings(tmp_path_factory.mktemp("compare") / "data")
    return compare(settings, RUN_DATE)


def test_every_method_on_the_same_cold_users(rows):
    assert {r["method"] for r in rows} - {RERANKED} == METHODS
    for role in ("cold_val", "cold_test"):
        users = {r["users"] for r in rows if r["role"] == role}
        assert len(users) == 1 and users.pop() > 0  # one user set per role
    assert all(0.0 <= r[m] <= 1.0 for r in rows for m in ("ndcg@10", "recall@20", "mrr"))


def test_hybrid_is_at_least_as_good_as_its_parts_on_validation(rows):
    # the fusion weight is chosen on cold_val, and weights 0 and 1 are among the candidates
    val = {r["method"]: r["ndcg@10"] for r in rows if r["role"] == "cold_val"}
    assert val["crossrec"] >= max(val["crossrec_two_tower_only"], val["crossrec_graph_only"]) - 1e-9


def test_a_shipped_reranker_beat_the_fused_model_on_validation(rows):
    val = {r["method"]: r["ndcg@10"] for r in rows if r["role"] == "cold_val"}
    if RERANKED in val:
        assert val["crossrec"] > val[RERANKED]


def test_rows_carry_metrics_by_source_activity(rows):
    for r in rows:
        buckets = r["by_activity"]
        assert sum(b["users"] for b in buckets.values()) == r["users"]
        mean = sum(b["ndcg@10"] * b["users"] for b in buckets.values()) / r["users"]
        assert mean == pytest.approx(r["ndcg@10"])


def test_table_lists_one_role(rows):
    text = table(rows, "cold_test")
    methods = {r["method"] for r in rows}
    assert text.count("\n") == len(methods) + 1 and "cooccurrence_knn" in text


def test_ablation_overrides_apply(tmp_path):
    base = tiny_settings(tmp_path)
    assert with_overrides(base, ABLATIONS["no_adaptation"]).train.adversarial_weight == 0.0
    assert with_overrides(base, ABLATIONS["no_pretraining"]).train.pretrain_epochs == 0
    variant = with_overrides(base, ABLATIONS["no_finetuning"])
    assert variant.train.finetune_epochs == 0 and variant.model == base.model


def test_ablations_retrain_without_their_stage(tmp_path):
    settings = tiny_settings(tmp_path / "data")
    rows = compare(settings, RUN_DATE, ablations=True, baselines=("popularity",))
    methods = {r["method"] for r in rows}
    for name in ABLATIONS:
        assert {f"crossrec_{name}", f"crossrec_{name}_two_tower_only"} <= methods
    runs = settings.data_dir / "compare" / RUN_DATE.isoformat()
    # a skipped stage leaves no checkpoint; fine-tuning always runs (it fuses the graph)
    assert not (runs / "no_pretraining" / "pretrain").exists()
    assert (runs / "no_pretraining" / "adapt").is_dir()
    assert (runs / "no_finetuning" / "finetune").is_dir()
    for role in ("cold_val", "cold_test"):
        assert len({r["users"] for r in rows if r["role"] == role}) == 1


def test_evaluate_command_prints_both_roles(tmp_path):
    settings = tiny_settings(tmp_path / "data")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'data_dir = "{settings.data_dir}"\n'
                   '[[sources]]\nkind = "synthetic"\nn_users = 300\nn_items = 60\nseed = 3\n'
                   "[validation]\nmin_rows = 50\n[model]\ndim = 16\n"
                   "[train]\npretrain_epochs = 1\nadapt_epochs = 1\nfinetune_epochs = 1\n"
                   "[run]\nprogress = false\nthreads = 1\n")
    out = tmp_path / "rows.json"
    result = CliRunner().invoke(app, ["evaluate", "--config", str(cfg), "--date", "2026-11-22",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "cold_val (sport -> cloth)" in result.output and "cold_test" in result.output
    assert {r["method"] for r in json.loads(out.read_text())} - {RERANKED} == METHODS
