"""The quality gate's decision on hand-written metric rows, and how it moves the registry."""

import math
from datetime import date

import pytest

from crossrec.config import GateConfig
from crossrec.gate import GateDecision, decide, markdown, settle
from crossrec.integrity import write_manifest
from crossrec.registry import promote, read_registry, rollback


def rows(ours: float, champion: float | None = None, popularity: float = 0.10) -> list[dict]:
    out = [{"method": "crossrec", "role": "cold_val", "ndcg@10": ours, "mrr": ours / 2},
           {"method": "crossrec", "role": "cold_test", "ndcg@10": 0.99, "mrr": 0.99},
           {"method": "popularity", "role": "cold_val", "ndcg@10": popularity, "mrr": 0.05}]
    if champion is not None:
        out.append({"method": "champion", "role": "cold_val", "ndcg@10": champion, "mrr": 0})
    return out


def test_first_model_needs_only_the_floors():
    d = decide(rows(0.20), GateConfig(), "v2", None)
    assert d.accepted and d.summary == "accepted: first champion"
    assert d.scores == {"crossrec": 0.20, "popularity": 0.10}


def test_within_tolerance_of_the_champion_is_accepted():
    # 0.196 is exactly 2% below 0.2: still accepted; the cold_test row is never read
    assert decide(rows(0.196, champion=0.20), GateConfig(tolerance=0.02), "v2", "v1").accepted


def test_beyond_tolerance_is_rejected_with_the_numbers():
    d = decide(rows(0.18, champion=0.20), GateConfig(tolerance=0.02), "v2", "v1")
    assert not d.accepted
    assert d.reasons == ["ndcg@10 0.1800 is 10.0% below champion v1's 0.2000 (tolerance 2.0%)"]
    assert "rejected" in markdown(d, None) and "previous recommendations stay" in markdown(d, None)


def test_popularity_floor_and_absolute_floor():
    cfg = GateConfig(min_lift_over_popularity=0.5, min_score=0.2)
    d = decide(rows(0.14, champion=0.10, popularity=0.10), cfg, "v2", "v1")
    assert d.reasons == ["ndcg@10 0.1400 is below the floor 0.2000",
                         "ndcg@10 0.1400 is below popularity's 0.1000 x 1.5"]
    off = GateConfig(min_lift_over_popularity=None)
    assert decide(rows(0.05, popularity=0.10), off, "v2", None).accepted


def test_a_floor_rejects_only_a_shortfall_beyond_the_noise():
    # 0.08 vs popularity 0.10: 0.02 short; the paired standard error is 0.015
    noisy = rows(0.08, popularity=0.10)
    noisy[2]["paired_se"] = {"ndcg@10": 0.015, "mrr": 0.0}
    assert decide(noisy, GateConfig(noise_margin=2.0), "v2", None).accepted  # 0.02 < 0.03
    d = decide(noisy, GateConfig(noise_margin=1.0), "v2", None)  # 0.02 > 0.015
    assert d.reasons == ["ndcg@10 0.0800 is below popularity's 0.1000 x 1 by more than "
                         "1 x 0.0150 (standard error of the difference)"]
    assert not decide(noisy, GateConfig(noise_margin=0.0), "v2", None).accepted
    # rows without a paired standard error (older metrics): any shortfall rejects
    assert not decide(rows(0.08, popularity=0.10), GateConfig(), "v2", None).accepted
    # the best-baseline floor too, with that baseline's own standard error
    best = noisy + [{"method": "cooc_pop_blend", "role": "cold_val", "ndcg@10": 0.12,
                     "mrr": 0.0, "paired_se": {"ndcg@10": 0.001}}]
    d = decide(best, GateConfig(min_ratio_to_best_baseline=1.0), "v2", None)
    assert d.reasons == ["ndcg@10 0.0800 is below the best baseline cooc_pop_blend's 0.1200 "
                         "x 1 by more than 2 x 0.0010 (standard error of the difference)"]


def test_the_configured_metric_is_the_one_compared():
    # on mrr ours (0.09) beats the champion's 0; on ndcg@10 it would lose
    d = decide(rows(0.18, champion=0.20), GateConfig(metric="mrr", min_lift_over_popularity=None),
               "v2", "v1")
    assert d.accepted and d.scores["crossrec"] == 0.09


def test_same_version_and_no_users():
    assert decide(rows(0.2), GateConfig(), "v1", "v1").summary == (
        "accepted: same version as the champion")
    d = decide(rows(math.nan, champion=0.2), GateConfig(), "v2", "v1")
    assert not d.accepted and d.reasons == ["no cold validation users to judge ndcg@10 on"]


def test_a_disabled_gate_reports_but_never_blocks():
    d = decide(rows(0.18, champion=0.20), GateConfig(enabled=False), "v2", "v1")
    assert d.accepted and d.reasons == []
    assert d.summary.startswith("accepted: gate disabled (would have rejected: ndcg@10 0.1800")


@pytest.fixture
def models(tmp_path):
    root = tmp_path / "data" / "models"
    for name in ("20261120-a", "20261121-b", "20261122-c"):
        (root / name).mkdir(parents=True)
        write_manifest(root / name)
    promote(root, "20261121-b", "first")
    return root


def accepted(challenger: str, champion: str | None) -> GateDecision:
    return decide(rows(0.2, champion=0.2), GateConfig(), challenger, champion)


def test_settle_promotes_an_accepted_challenger(models):
    d = settle(accepted("20261122-c", "20261121-b"), models, date(2026, 11, 22))
    assert d.accepted and read_registry(models).champion == "20261122-c"


def test_a_backfilled_past_date_is_published_but_not_promoted(models):
    d = settle(accepted("20261120-a", "20261121-b"), models, date(2026, 11, 20))
    assert d.accepted and d.summary.endswith(
        "not promoted: 2026-11-20 is older than the champion 20261121-b")
    assert read_registry(models).champion == "20261121-b"


def test_a_version_rolled_back_by_hand_is_not_promoted_again(models):
    promote(models, "20261122-c", "x")
    rollback(models, "bad lists")
    d = settle(accepted("20261122-c", "20261121-b"), models, date(2026, 11, 22))
    assert not d.accepted and "rolled back by hand" in d.reasons[0]
    assert read_registry(models).champion == "20261121-b"


def test_a_champion_changed_during_evaluation_is_not_buried(models):
    promote(models, "20261120-a", "promoted by hand while the run evaluated")
    d = settle(accepted("20261122-c", "20261121-b"), models, date(2026, 11, 22))
    assert not d.accepted
    assert d.reasons == ["the champion changed from 20261121-b to 20261120-a while "
                         "20261122-c was judged"]
    assert read_registry(models).champion == "20261120-a"


def with_baselines(ours: float, **baselines: float) -> list[dict]:
    out = rows(ours, champion=0.5)
    out += [{"method": name, "role": "cold_val", "ndcg@10": v, "mrr": 0.0}
            for name, v in baselines.items()]
    # a test-role row far above everything: the gate must never read it
    out.append({"method": "rp3beta", "role": "cold_test", "ndcg@10": 0.9, "mrr": 0.0})
    return out


def test_best_baseline_floor_names_the_best_one_with_the_numbers():
    # best baseline on cold_val is user_knn 0.20 (not popularity 0.10, not the champion 0.5)
    data = with_baselines(0.21, rp3beta=0.15, user_knn=0.20)
    cfg = GateConfig(min_ratio_to_best_baseline=1.1, tolerance=0.9)
    d = decide(data, cfg, "v2", "v1")
    assert not d.accepted
    assert d.reasons == ["ndcg@10 0.2100 is below the best baseline user_knn's 0.2000 x 1.1"]
    assert d.scores["user_knn"] == 0.20
    # 0.221 clears 0.20 x 1.1 = 0.22; ratio 1.0 asks only to match it
    assert decide(with_baselines(0.221, user_knn=0.20), cfg, "v2", "v1").accepted
    assert decide(data, cfg.model_copy(update={"min_ratio_to_best_baseline": 1.0}),
                  "v2", "v1").accepted


def test_best_baseline_floor_is_off_by_default_and_includes_popularity():
    data = with_baselines(0.05, user_knn=0.20)
    assert GateConfig().min_ratio_to_best_baseline is None
    assert decide(data, GateConfig(min_lift_over_popularity=None, tolerance=0.95),
                  "v2", "v1").accepted
    # popularity alone: it is the best baseline, and a disabled gate only reports the floor
    d = decide(rows(0.09), GateConfig(min_ratio_to_best_baseline=1.0, enabled=False,
                                      min_lift_over_popularity=None), "v2", None)
    assert d.accepted and d.ignored == [
        "ndcg@10 0.0900 is below the best baseline popularity's 0.1000 x 1"]
