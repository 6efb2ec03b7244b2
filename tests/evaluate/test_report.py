"""The evaluate stage's rows: on the gate's users, each other method carries the standard
error of its user-by-user difference with ours (known answer)."""

import numpy as np
import pytest

from crossrec.evaluate.report import evaluate_methods, paired_se
from crossrec.metrics.protocol import evaluate
from tests.evaluate.test_protocol import SCORES, Fixed, world


class Reversed(Fixed):
    def score(self, users):
        return SCORES.flip(0).repeat(len(users), 1)


def gate_world():
    w = world()
    w.truth["cold_val"] = w.truth["cold_test"]
    w.truth_sizes["cold_val"] = w.truth_sizes["cold_test"]
    return w


def test_paired_standard_error_known_answer():
    data = gate_world()
    rows = evaluate_methods({"crossrec": lambda: Fixed(data),
                             "popularity": lambda: Reversed(data)}, roles=("cold_val", "cold_test"))
    by = {(r["method"], r["role"]): r for r in rows}
    # truth columns 1, 0, 0, 1, 0: ours ranks them 2nd / 1st, the reversed order 3rd / 4th
    ours = np.array([1 / np.log2(3), 1, 1, 1 / np.log2(3), 1])
    theirs = np.array([1 / np.log2(4), 1 / np.log2(5), 1 / np.log2(5), 1 / np.log2(4),
                       1 / np.log2(5)])
    expected = np.std(ours - theirs, ddof=1) / np.sqrt(5)
    assert by["popularity", "cold_val"]["paired_se"]["ndcg@10"] == pytest.approx(expected)
    assert by["popularity", "cold_val"]["ndcg@10"] == pytest.approx(theirs.mean())
    # only on the gate's users, only for the others, and no per-user arrays left in the rows
    assert "paired_se" not in by["popularity", "cold_test"]
    assert "paired_se" not in by["crossrec", "cold_val"]
    assert all("per_user" not in r for r in rows)


def test_per_user_values_average_to_the_mean_and_one_user_has_no_error():
    out = evaluate(Fixed(gate_world()), "cold_val", per_user=True)
    for metric, values in out["per_user"].items():
        assert len(values) == 5 and values.mean() == pytest.approx(out[metric])
    assert np.isnan(paired_se(np.array([0.5]), np.array([0.1])))
    assert paired_se(np.ones(4), np.ones(4)) == 0.0
