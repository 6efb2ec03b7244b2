"""DANN on a world whose domains are alignable (synthetic, small per-domain taste shift): the
discriminator's accuracy falls toward 0.5 as adaptation proceeds, and stays near 1 without it."""

import json

import pytest

from crossrec.evaluate.compare import build_marts
from crossrec.train.stages import run_stage
from tests.conftest import RUN_DATE, tiny_settings


def settings_for(root, weight: float):
    return tiny_settings(
        root / "data",
        sources=[{"kind": "synthetic", "n_users": 800, "n_items": 80, "seed": 5,
                  "domain_shift": 0.1}],
        model={"dim": 32}, train={"adapt_epochs": 5, "adversarial_weight": weight})


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    root = tmp_path_factory.mktemp("dann")
    settings = settings_for(root, 0.1)
    marts = build_marts(settings, RUN_DATE)
    return root, marts, run_stage("pretrain", settings, marts, RUN_DATE, None, root / "pre")


def adapt_history(pretrained, weight: float) -> list[dict]:
    root, marts, pre = pretrained
    folder = run_stage("adapt", settings_for(root, weight), marts, RUN_DATE, pre,
                       root / f"adapt-{weight}")
    return json.loads((folder / "metrics.json").read_text())["history"]


def test_discriminator_accuracy_drops_toward_chance_under_adaptation(pretrained):
    without = adapt_history(pretrained, 0.0)  # the discriminator learns, the tower ignores it
    adapted = adapt_history(pretrained, 0.1)
    assert without[-1]["disc_acc"] > 0.9  # unadapted encodings are easy to tell apart
    assert adapted[-1]["disc_acc"] < adapted[0]["disc_acc"] - 0.05
    assert abs(adapted[-1]["disc_acc"] - 0.5) < abs(without[-1]["disc_acc"] - 0.5) - 0.15
    # a fresh probe on the frozen tower agrees: less separable than without adaptation
    assert adapted[-1]["probe_acc"] < without[-1]["probe_acc"]
