"""The refit after selection: the shipped model is trained on every row, the held-out rows of
the evaluation users included, with what selection chose on them.

Known answer: a checkerboard (group A buys source and target items 0-4, group B 5-9) where
the target item ``cloth:99`` is bought only by group-A users whose target rows are held out
for evaluation. The held-out model cannot know it; the refit must recommend it to group-A
users who have no target rows at all."""

import json
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from crossrec.bundle.bundle import Bundle, held_out
from crossrec.bundle.select import build_bundle, refit_bundle
from crossrec.data.marts import MartPaths
from crossrec.train.fit import fit
from crossrec.train.stages import run_stage, selected_epochs
from tests.conftest import RUN_DATE, tiny_settings

NEW = "cloth:99"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("refit")
    rng = np.random.default_rng(0)
    rows, split = [], []
    for u in range(280):
        group = u % 2
        # 0-59 held out (cold), 60-239 train, 240-279 source only (cold at scoring time)
        role = "cold_test" if u < 40 else "cold_val" if u < 60 else "train"
        split.append((f"u{u}", role))
        for domain in ("sport", "cloth"):
            if domain == "cloth" and u >= 240:
                continue
            items = [f"{domain}:{i}" for i in rng.choice(5, size=3, replace=False) + 5 * group]
            if domain == "cloth" and role != "train" and group == 0:
                items.append(NEW)
            for item in items:
                r = "train" if domain == "sport" or role == "train" else role
                rows.append((f"u{u}", item, domain, r))
    ts = datetime(2026, 11, 1, tzinfo=UTC)
    inter = pl.DataFrame(rows, schema=["user_id", "item_id", "domain", "role"], orient="row")
    inter.with_columns(pl.lit(ts).alias("event_ts")).write_parquet(
        root / "mart_interactions.parquet")
    pl.DataFrame(split, schema=["user_id", "user_split"], orient="row").with_columns(
        pl.lit(42).alias("split_seed")).write_parquet(root / "mart_eval_split.parquet")
    marts = MartPaths(root / "mart_interactions.parquet", root / "mart_eval_split.parquet")
    settings = tiny_settings(root / "data", train={"lr": 0.01, "batch_size": 64},
                             bundle={"rerank": False, "graph_alphas": [0.5],
                                     "graph_betas": [0.0], "fusion_weights": [0.0, 0.5]})
    held, refit, init = [], [], None
    for stage in ("pretrain", "adapt", "finetune"):
        held.append(run_stage(stage, settings, marts, RUN_DATE, held[-1] if held else None,
                              root / "work" / stage))
        init = run_stage(stage, settings, marts, RUN_DATE, init, root / "work" / f"{stage}-r",
                         refit_of=held[-1])
        refit.append(init)
    models = root / "models"
    selection = build_bundle(held[-1], marts, settings.domains, settings.model.max_history,
                             settings.bundle, settings.run, RUN_DATE, models)
    shipped = refit_bundle(selection, refit[-1], marts, settings.domains, settings.bundle,
                           settings.run, RUN_DATE, models)
    return settings, marts, held, refit, selection, shipped


def test_every_row_data_has_no_held_out_rows(world):
    settings, marts, *_ = world
    held = marts.load("sport", "cloth")
    every = marts.load("sport", "cloth", every_row=True)
    assert NEW not in held.vocab.index and NEW in every.vocab.index
    assert set(every.vocab.item_ids) == set(held.vocab.item_ids) | {NEW}
    for d in ("sport", "cloth"):
        for mine, known in zip(every.train_hist[d], every.all_hist[d], strict=True):
            assert list(mine) == list(known)
    assert all(not by_user for by_user in every.truth.values())
    assert set(every.user_role) == {"train"}
    cold = [u for u in range(len(held.users)) if held.user_role[u] == "cold_test"]
    assert all(len(held.train_hist["cloth"][u]) == 0 for u in cold)
    assert all(len(every.train_hist["cloth"][u]) >= 3 for u in cold)


def test_refit_stages_repeat_the_selected_epochs_without_validation(world):
    _, _, held, refit, *_ = world
    for selected, again in zip(held, refit, strict=True):
        record = json.loads((again / "metrics.json").read_text())
        assert len(record["history"]) == selected_epochs(selected)
        assert all("val_ndcg@10" not in h for h in record["history"])
        assert record["refit_of"] == str(selected)
        assert json.loads((again / "lineage.json").read_text())["every_row"] is True
    adapt = json.loads((held[1] / "metrics.json").read_text())
    assert selected_epochs(held[1]) == adapt["best_epoch"] >= 1


def test_the_refit_recommends_what_only_held_out_users_bought(world):
    settings, marts, _, _, selection, shipped = world
    every = marts.load("sport", "cloth", every_row=True)
    pure_cold = np.array([i for i, u in enumerate(every.users)
                          if int(u[1:]) >= 240 and int(u[1:]) % 2 == 0])
    start = every.vocab.domain_ranges[1][0]
    for version, expected in ((shipped, True), (selection, False)):
        cols, _ = Bundle.load(version).recommend(every, pure_cold, 6)
        found = [NEW in set(every.vocab.item_ids[row + start]) for row in cols]
        assert all(found) if expected else not any(found), version


def test_the_shipped_version_keeps_the_selected_choices_and_names_its_selection(world):
    *_, selection, shipped = world
    chosen, refit = Bundle.load(selection), Bundle.load(shipped)
    assert shipped != selection and held_out(shipped) == selection
    assert held_out(selection) == selection
    assert refit.config == chosen.config and refit.selection == chosen.selection
    assert NEW in refit.vocab.index and NEW not in chosen.vocab.index
    g = refit.graph.target_to_target
    assert g.shape[0] == refit.vocab.domain_ranges[1][1] - refit.vocab.domain_ranges[1][0]
    metrics = json.loads((shipped / "metrics.json").read_text())
    assert metrics["refit"]["selection_version"] == selection.name
    assert [s["stage"] for s in metrics["refit"]["stages"]] == ["pretrain", "adapt", "finetune"]
    # the held-out numbers travel with the version that ships
    assert metrics["stages"] == json.loads((selection / "metrics.json").read_text())["stages"]


def test_a_lineage_naming_something_else_is_refused(world, tmp_path):
    import shutil

    from crossrec.errors import CorruptModelError

    *_, shipped = world
    for name in ("../../etc", "20261122-zzzzzzzzzzzz", "20261122-000000000000"):
        copy = tmp_path / name.replace("/", "_") / shipped.name
        shutil.copytree(shipped, copy)
        lineage = json.loads((copy / "lineage.json").read_text())
        (copy / "lineage.json").write_text(json.dumps({**lineage, "selection_version": name}))
        with pytest.raises(CorruptModelError, match="held-out version"):
            held_out(copy)


class Recorder:
    """A trainer that records the (epoch, epochs) it was asked for."""

    def __init__(self):
        import torch

        self.model = torch.nn.Linear(1, 1)
        self.calls = []

    def train_epoch(self, epoch, epochs):
        self.calls.append((epoch, epochs))
        return {"loss": 1.0}


def test_stop_after_ends_early_on_the_full_schedule():
    trainer = Recorder()
    result = fit(trainer, 6, stop_after=2)
    assert trainer.calls == [(0, 6), (1, 6)]  # schedules still spread over six epochs
    assert result.best_epoch == 2 and len(result.history) == 2
    trainer = Recorder()
    assert fit(trainer, 3, stop_after=0).history == [] and trainer.calls == []


def test_keep_start_keeps_a_start_no_epoch_beats():
    import torch

    trainer = Recorder()
    start = trainer.model.weight.detach().clone()

    def train_epoch(epoch, epochs):
        with torch.no_grad():
            trainer.model.weight.add_(1.0)
        return {"loss": 1.0}

    trainer.train_epoch = train_epoch
    scores = iter([0.5, 0.4, 0.3, 0.2, 0.1])  # the start, then every epoch worse
    result = fit(trainer, 4, lambda: next(scores), patience=2, keep_start=True)
    assert result.best_epoch == 0 and result.best_score == 0.5
    assert [h["epoch"] for h in result.history] == [0.0, 1.0, 2.0]  # stopped by patience
    assert torch.equal(trainer.model.weight, start)
    # an epoch that beats the start wins as usual
    scores = iter([0.5, 0.6, 0.4, 0.3])
    assert fit(Recorder(), 3, lambda: next(scores), keep_start=True).best_epoch == 1
