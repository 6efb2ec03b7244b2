"""Weak negatives from click feedback: sampling, and fine-tuning pushes them down."""

import numpy as np
import polars as pl
import torch

from crossrec.data.marts import MartPaths
from crossrec.train.checkpoint import load_model
from crossrec.train.finetune import sample_weak
from crossrec.train.stages import run_stage
from tests.conftest import RUN_DATE
from tests.train.test_known_answer import checkerboard  # noqa: F401 - a fixture


def test_sample_weak_pads_masks_and_samples_without_replacement():
    weak = [np.zeros(0, dtype=np.int64), np.array([7, 9]), np.arange(20, 26)]
    out, mask = sample_weak(weak, np.array([0, 1, 2, 1]), 4, np.random.default_rng(0))
    assert mask.tolist() == [[False] * 4, [True, True, False, False], [True] * 4,
                             [True, True, False, False]]
    assert out[1, :2].tolist() == [7, 9] and (out[~mask] == 0).all()
    assert len(set(out[2])) == 4 and set(out[2]) <= set(range(20, 26))


def test_fine_tuning_ranks_shown_but_untaken_items_lower(checkerboard, tmp_path):  # noqa: F811
    settings, marts, _, ada, _ = checkerboard
    data = marts.load(settings.domains.source, settings.domains.target)
    start = data.vocab.domain_ranges[1][0]
    # group-A training users who do not have cloth:0 were shown it and passed
    shown = [u for u in range(len(data.users)) if data.user_role[u] == "train"
             and int(data.users[u][1:]) % 2 == 0
             and data.vocab.index["cloth:0"] not in set(data.all_hist["cloth"][u])]
    path = tmp_path / "mart_weak_negatives.parquet"
    pl.DataFrame({"user_id": [data.users[u] for u in shown], "item_id": ["cloth:0"] * len(shown),
                  "impressions": [1] * len(shown)}).write_parquet(path)
    with_weak = MartPaths(marts.interactions, marts.eval_split, None, path)

    def gap(weight: float) -> float:
        """Mean score of cloth:0 minus the other group-A cloth items, for those users."""
        tuned = settings.model_copy(update={"train": settings.train.model_copy(
            update={"weak_negative_weight": weight})})
        folder = run_stage("finetune", tuned, with_weak, RUN_DATE, ada,
                           tmp_path / f"models-{weight}")
        model, _ = load_model(folder)
        model.eval()
        with torch.no_grad():
            hist = data.history_tensor(np.array(shown), ("sport", "cloth"),
                                       settings.model.max_history, "train")
            logits = model.logits(model.encode_users(hist), "cloth").numpy()
        cols = [data.vocab.index[f"cloth:{i}"] - start for i in range(5)]
        return float((logits[:, cols[0]] - logits[:, cols[1:]].mean(axis=1)).mean())

    assert len(shown) > 20
    without, with_ = gap(0.0), gap(2.0)
    print(f"cloth:0 vs the other group-A items: {without:.3f} without, {with_:.3f} with")
    assert with_ < without - 0.5
