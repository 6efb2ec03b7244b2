"""The report figures are real PNGs, tolerate missing keys and empty input, and leak nothing."""

import importlib
import math

import matplotlib
import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest

from crossrec.evaluate import plots
from crossrec.evaluate.plots import discriminator_accuracy, metric_by_method, training_curves

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

ROWS = [{"method": m, "role": r, "users": n, "ndcg@10": v, "recall@20": 2 * v, "hr@10": 3 * v,
         "mrr": v}
        for m, base in (("crossrec", 0.12), ("popularity", 0.05), ("itemknn", 0.08))
        for r, n, v in (("cold_val", 100, base), ("cold_test", 200, 0.9 * base),
                        ("warm_test", 300, 1.3 * base))]

ADAPT = [{"epoch": float(i), "rec_loss": 3.5 - 0.1 * i, "val_ndcg@10": 0.05 + 0.01 * i,
          "disc_acc": 0.9 - 0.08 * i, "lambda": min(1.0, 0.25 * i), "domain_loss": 0.3 + 0.08 * i,
          "probe_acc": 0.8 - 0.05 * i} for i in range(1, 6)]
HISTORIES = {
    "pretrain": [{"epoch": float(i), "rec_loss": 5 - 0.3 * i} for i in range(1, 6)],
    "adapt": ADAPT,
    "finetune": [{"epoch": float(i), "rec_loss": 3 - 0.1 * i, "val_ndcg@10": 0.1 + 0.005 * i}
                 for i in range(1, 4)],
}


@pytest.fixture(autouse=True)
def no_open_figures():
    """Every test starts and must end with pyplot holding no figure."""
    plt.close("all")
    yield
    assert plt.get_fignums() == []


def read_png(path) -> np.ndarray:
    """Check the file is a PNG of sensible size and return its pixels."""
    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[2] in (3, 4)
    h, w = img.shape[:2]
    assert 150 <= h <= 3000 and 300 <= w <= 3000, img.shape
    # not a blank canvas: something was drawn
    assert img[..., :3].std() > 0.01
    return img


# --- metric_by_method ---

def test_metric_by_method_writes_png_and_returns_path(tmp_path):
    out = tmp_path / "nested" / "ndcg.png"
    assert metric_by_method(ROWS, out) == out
    read_png(out)


@pytest.mark.parametrize("metric", ["ndcg@10", "recall@20", "hr@10", "mrr"])
def test_metric_by_method_every_metric(tmp_path, metric):
    read_png(metric_by_method(ROWS, tmp_path / "m.png", metric=metric))


def test_all_roles_are_groups_one_role_is_one_group(tmp_path):
    one = read_png(metric_by_method(ROWS, tmp_path / "one.png", role="cold_test"))
    every = read_png(metric_by_method(ROWS, tmp_path / "all.png", role=None))
    # three role groups of three bars need a wider figure than one group
    assert every.shape[1] > one.shape[1] * 1.3


def test_metric_by_method_role_filter_changes_the_picture(tmp_path):
    val = read_png(metric_by_method(ROWS, tmp_path / "val.png", role="cold_val"))
    test = read_png(metric_by_method(ROWS, tmp_path / "test.png", role="cold_test"))
    assert val.shape != test.shape or not np.array_equal(val, test)


@pytest.mark.parametrize("rows,kwargs", [
    ([], {}),
    (ROWS, {"role": "no_such_role"}),
    ([{"method": "crossrec", "role": "cold_val", "users": 0}], {}),  # metric key missing
    ([{"method": "crossrec", "role": "cold_val", "users": 0, "ndcg@10": math.nan}], {}),
])
def test_metric_by_method_without_data_draws_the_no_data_figure(tmp_path, rows, kwargs):
    blank = read_png(metric_by_method([], tmp_path / "blank.png", role=kwargs.get("role",
                                                                                 "cold_val")))
    got = read_png(metric_by_method(rows, tmp_path / "got.png", **kwargs))
    assert np.array_equal(blank, got)


def test_metric_by_method_rows_with_missing_values_still_plot(tmp_path):
    rows = [*ROWS, {"method": "emcdr", "role": "cold_val", "users": 100}]
    blank = read_png(metric_by_method([], tmp_path / "blank.png"))
    got = read_png(metric_by_method(rows, tmp_path / "got.png"))
    assert got.shape != blank.shape or not np.array_equal(got, blank)


def test_repeated_runs_are_averaged_with_spread():
    rows = [{"method": "a", "role": "cold_val", "ndcg@10": v} for v in (0.1, 0.3)]
    rows.append({"method": "b", "role": "cold_val", "ndcg@10": math.inf})
    groups = plots._group_values(rows, "ndcg@10", "cold_val")
    assert groups == {("cold_val", "a"): [0.1, 0.3]}


def test_metric_by_method_spread_renders(tmp_path):
    rows = [*ROWS, {**ROWS[0], "ndcg@10": 0.2}]
    read_png(metric_by_method(rows, tmp_path / "seeds.png", role=None))


# --- training_curves ---

def test_training_curves_writes_png(tmp_path):
    out = training_curves(HISTORIES, tmp_path / "curves.png")
    assert out == tmp_path / "curves.png"
    read_png(out)


def test_stages_are_laid_end_to_end():
    x, end = plots._stage_epochs(HISTORIES["pretrain"], 0.0)
    assert list(x) == [1, 2, 3, 4, 5] and end == 5
    x, end = plots._stage_epochs(HISTORIES["adapt"], end)
    assert list(x) == [6, 7, 8, 9, 10] and end == 10
    # entries with no epoch count on from their position
    x, end = plots._stage_epochs([{"rec_loss": 1.0}, {"rec_loss": 0.5}], 10.0)
    assert list(x) == [11, 12] and end == 12


def test_series_skips_missing_and_non_finite_values():
    hist = [{"rec_loss": 1.0}, {}, {"rec_loss": math.nan}, {"rec_loss": 0.5}]
    xs, ys = plots._series(hist, np.arange(1.0, 5.0), "rec_loss")
    assert list(xs) == [1.0, 4.0] and list(ys) == [1.0, 0.5]


@pytest.mark.parametrize("histories", [
    {"pretrain": HISTORIES["pretrain"]},                        # no val_ndcg@10 anywhere
    {"pretrain": [{"epoch": 1.0}], "adapt": [{"epoch": 1.0}]},  # no metric at all
    {"pretrain": [], "adapt": ADAPT},                           # an empty stage
    {"adapt": [{"rec_loss": 1.0}, {"rec_loss": 0.9}]},          # no epoch key
])
def test_training_curves_missing_keys(tmp_path, histories):
    read_png(training_curves(histories, tmp_path / "c.png"))


def test_training_curves_custom_keys(tmp_path):
    read_png(training_curves(HISTORIES, tmp_path / "c.png", keys=("rec_loss",)))


def test_training_curves_empty_draws_no_data(tmp_path):
    a = read_png(training_curves({}, tmp_path / "a.png"))
    b = read_png(training_curves({"pretrain": [], "adapt": []}, tmp_path / "b.png"))
    full = read_png(training_curves(HISTORIES, tmp_path / "full.png"))
    assert np.array_equal(a, b)
    assert a.shape != full.shape


# --- discriminator_accuracy ---

def test_discriminator_accuracy_writes_png(tmp_path):
    out = discriminator_accuracy(ADAPT, tmp_path / "disc.png")
    assert out == tmp_path / "disc.png"
    read_png(out)


@pytest.mark.parametrize("drop", [("lambda",), ("domain_loss",), ("probe_acc",),
                                  ("disc_acc", "probe_acc"), ("disc_acc", "lambda",
                                                              "domain_loss", "probe_acc")])
def test_discriminator_accuracy_missing_keys(tmp_path, drop):
    history = [{k: v for k, v in h.items() if k not in drop} for h in ADAPT]
    full = read_png(discriminator_accuracy(ADAPT, tmp_path / "full.png"))
    got = read_png(discriminator_accuracy(history, tmp_path / "got.png"))
    assert got.shape != full.shape or not np.array_equal(got, full)


def test_discriminator_accuracy_empty_draws_no_data(tmp_path):
    empty = read_png(discriminator_accuracy([], tmp_path / "e.png"))
    full = read_png(discriminator_accuracy(ADAPT, tmp_path / "f.png"))
    assert empty.shape != full.shape


# --- global state ---

def test_pyplot_figures_of_other_code_are_left_alone(tmp_path):
    fig = plt.figure()
    metric_by_method(ROWS, tmp_path / "a.png")
    training_curves(HISTORIES, tmp_path / "b.png")
    discriminator_accuracy(ADAPT, tmp_path / "c.png")
    assert plt.get_fignums() == [fig.number]
    plt.close(fig)


def test_import_does_not_switch_the_backend():
    # start from a backend other than Agg, so a matplotlib.use("Agg") in plots.py would show
    before = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        importlib.reload(plots)
        assert matplotlib.get_backend().lower() == "svg"
    finally:
        matplotlib.use(before)
