"""The click simulator: seeded, position-biased, taste-driven, and messy at the set rates."""

import json
from datetime import date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from crossrec.collect.clicksim import (
    MALFORMED_KINDS,
    ClickSimConfig,
    json_lines,
    simulate,
    write_jsonl,
    write_parquet,
)
from crossrec.collect.sources import SyntheticSource
from crossrec.collect.synthetic import SyntheticWorld
from crossrec.schemas import CLICKS, EVENT_TYPES

REC_DATE = date(2026, 11, 21)
EVENT_DATE = date(2026, 11, 22)
N_USERS, N_ITEMS, TOP = 2000, 200, 10
FIELDS = set(CLICKS.names)


@pytest.fixture(scope="module")
def world() -> SyntheticWorld:
    return SyntheticWorld(SyntheticSource(n_users=N_USERS, n_items=N_ITEMS, seed=11),
                          "sport", "cloth")


@pytest.fixture(scope="module")
def preference(world) -> np.ndarray:
    """(users, cloth items) ground-truth preference."""
    users = np.repeat(world.user_ids().to_numpy(zero_copy_only=False), N_ITEMS)
    items = np.tile(world.item_ids("cloth").to_numpy(zero_copy_only=False), N_USERS)
    return world.preference(users, items).reshape(N_USERS, N_ITEMS)


def recs_table(world: SyntheticWorld, item_idx: np.ndarray, version: str = "m1") -> pa.Table:
    """Lists of ``item_idx.shape[1]`` cloth items per user, rank 1 first."""
    n_users, top = item_idx.shape
    return pa.table({
        "user_id": world.user_ids().take(pa.array(np.repeat(np.arange(n_users), top))),
        "item_id": world.item_ids("cloth").take(pa.array(item_idx.ravel())),
        "rank": pa.array(np.tile(np.arange(1, top + 1), n_users), pa.int16()),
        "model_version": pa.repeat(version, n_users * top),
    })


def random_recs(world: SyntheticWorld, seed: int = 0, top: int = TOP) -> pa.Table:
    rng = np.random.default_rng(seed)
    return recs_table(world, np.argsort(rng.random((N_USERS, N_ITEMS)), axis=1)[:, :top])


def by_type(events: pa.Table, event_type: str) -> pa.Table:
    return events.filter(pc.equal(events["event_type"], event_type))


def pairs(events: pa.Table) -> set[tuple[str, str]]:
    return set(zip(events["user_id"].to_pylist(), events["item_id"].to_pylist(), strict=True))


def is_valid(line: str) -> bool:
    """What an ingestion accepts: the checks each malformed kind is meant to fail."""
    try:
        record = json.loads(line)
        datetime.fromisoformat(record["event_ts"])
    except (ValueError, KeyError, TypeError):
        return False
    return (set(record) == FIELDS and isinstance(record["rank"], int)
            and record["event_type"] in EVENT_TYPES)


def test_reproducible_and_independent_of_row_order(world, tmp_path):
    recs = random_recs(world)
    a = simulate(world, recs, REC_DATE, EVENT_DATE)
    shuffled = recs.take(pa.array(np.random.default_rng(1).permutation(recs.num_rows)))
    b = simulate(world, shuffled, REC_DATE, EVENT_DATE)
    assert a.events.equals(b.events) and a.malformed_lines == b.malformed_lines
    assert (write_jsonl(a, tmp_path / "a.jsonl").read_bytes()
            == write_jsonl(b, tmp_path / "b.jsonl").read_bytes())
    other = simulate(world, recs, REC_DATE, EVENT_DATE, ClickSimConfig(seed=1))
    assert not other.events.equals(a.events)
    next_day = simulate(world, recs, REC_DATE, EVENT_DATE + timedelta(days=1))
    assert not set(next_day.events["event_id"].to_pylist()) & set(
        a.events["event_id"].to_pylist())


def test_position_bias(world):
    cfg = ClickSimConfig(eta=1.0, click_bias=0.0)  # plenty of clicks at every rank
    day = simulate(world, random_recs(world), REC_DATE, EVENT_DATE, cfg)
    seen = np.bincount(by_type(day.events, "impression")["rank"].to_numpy(), minlength=TOP + 1)
    clicks = np.bincount(by_type(day.events, "click")["rank"].to_numpy(), minlength=TOP + 1)
    assert seen[1] == N_USERS  # everybody sees the top of their list
    assert seen[1] > seen[2] > seen[5] > seen[10] > 0
    assert abs(seen[10] / N_USERS - 0.1) < 0.03  # P(seen) = rank**-eta
    # Same items at every rank on average, so only the position explains the gap.
    assert clicks[1] / N_USERS > 3 * clicks[10] / N_USERS


def test_no_position_bias_when_eta_is_zero(world):
    day = simulate(world, random_recs(world), REC_DATE, EVENT_DATE, ClickSimConfig(eta=0.0))
    assert day.expected_counts["impression"] == N_USERS * TOP


def test_better_recommendations_get_more_clicks(world, preference):
    best = recs_table(world, np.argsort(-preference, axis=1)[:, :TOP])
    good = simulate(world, best, REC_DATE, EVENT_DATE)
    rand = simulate(world, random_recs(world), REC_DATE, EVENT_DATE)

    def ctr(day):
        return day.expected_counts["click"] / day.expected_counts["impression"]

    assert ctr(good) > 3 * ctr(rand) and ctr(rand) > 0
    assert good.expected_counts["purchase"] > rand.expected_counts["purchase"]


def test_funnel_and_timestamps(world, preference):
    day = simulate(world, recs_table(world, np.argsort(-preference, axis=1)[:, :TOP]),
                   REC_DATE, EVENT_DATE, ClickSimConfig(late_rate=0.0))
    seen, clicked, bought = (by_type(day.events, t) for t in EVENT_TYPES)
    assert bought.num_rows > 0
    assert pairs(bought) <= pairs(clicked) <= pairs(seen)
    first_seen = {(u, i): ts for u, i, ts in zip(seen["user_id"].to_pylist(),
                                                  seen["item_id"].to_pylist(),
                                                  seen["event_ts"].to_pylist(), strict=True)}
    for u, i, ts in zip(clicked["user_id"].to_pylist(), clicked["item_id"].to_pylist(),
                        clicked["event_ts"].to_pylist(), strict=True):
        assert ts > first_seen[(u, i)]
    ts = day.events["event_ts"].to_pylist()
    assert all(t.date() == EVENT_DATE for t in ts)
    assert ts == sorted(ts)  # delivered in time order
    assert set(day.events["rec_run_date"].to_pylist()) == {REC_DATE}
    assert day.events.schema == CLICKS
    assert len(day.events["event_id"].unique()) == day.events.num_rows


def test_unknown_pairs_are_seen_but_never_clicked(world):
    recs = pa.table({"user_id": ["nobody"] * 3 + ["u000001"] * 3,
                     "item_id": ["cloth:1", "cloth:2", "cloth:3", "shoe:1", "shoe:2", "shoe:3"],
                     "rank": pa.array([1, 2, 3] * 2, pa.int16()),
                     "model_version": ["m1"] * 6})
    day = simulate(world, recs, REC_DATE, EVENT_DATE, ClickSimConfig(click_bias=50.0))
    assert day.expected_counts["impression"] >= 2 and day.expected_counts["click"] == 0


def test_mess_matches_rates_and_reported_counts(world, tmp_path):
    cfg = ClickSimConfig(duplicate_rate=0.05, late_rate=0.1, malformed_rate=0.03, seed=3)
    day = simulate(world, random_recs(world, top=20), REC_DATE, EVENT_DATE, cfg)
    n = day.events.num_rows
    assert abs(day.n_duplicates / n - 0.05) < 0.015
    assert abs(day.n_malformed / n - 0.03) < 0.01
    assert abs(day.n_late / n - 0.1) < 0.04  # whole sessions are late: lumpier
    late = [t.date() == EVENT_DATE - timedelta(days=1) for t in day.events["event_ts"].to_pylist()]
    assert sum(late) == day.n_late
    assert sum(day.malformed_kinds.values()) == day.n_malformed
    assert all(day.malformed_kinds[k] > 0 for k in MALFORMED_KINDS)
    assert day.expected_counts == {t: by_type(day.events, t).num_rows for t in EVENT_TYPES}

    lines = write_jsonl(day, tmp_path / "clicks.jsonl").read_text().splitlines()
    assert len(lines) == n + day.n_duplicates + day.n_malformed
    good = [line for line in lines if is_valid(line)]
    assert sorted(line for line in lines if not is_valid(line)) == sorted(day.malformed_lines)
    ids = [json.loads(line)["event_id"] for line in good]
    assert len(ids) - len(set(ids)) == day.n_duplicates
    counts = {t: 0 for t in EVENT_TYPES}
    for line in set(good):
        counts[json.loads(line)["event_type"]] += 1
    assert counts == day.expected_counts


def test_jsonl_lines_parse_to_the_events_and_parquet_has_clicks_schema(world, tmp_path):
    day = simulate(world, random_recs(world), REC_DATE, EVENT_DATE,
                   ClickSimConfig(duplicate_rate=0.0, malformed_rate=0.0))
    lines = write_jsonl(day, tmp_path / "clicks.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == list(day.event_dicts())
    table = pq.read_table(write_parquet(day, tmp_path / "out" / "clicks.parquet"))
    assert table.schema == CLICKS and table.equals(day.events)


def test_ids_with_json_special_characters_are_escaped(world):
    recs = pa.table({"user_id": ['u"1\\x', "ü\n"], "item_id": ["cloth:1", "cloth:2"],
                     "rank": pa.array([1, 1], pa.int16()), "model_version": ["m\t1", "m1"]})
    day = simulate(world, recs, REC_DATE, EVENT_DATE)
    parsed = [json.loads(line) for line in json_lines(day.events).to_pylist()]
    assert {p["user_id"] for p in parsed} == {'u"1\\x', "ü\n"}
    assert parsed == list(day.event_dicts())


def test_empty_recommendations(world, tmp_path):
    empty = random_recs(world).slice(0, 0)
    day = simulate(world, empty, REC_DATE, EVENT_DATE)
    assert day.events.num_rows == 0 and day.n_malformed == 0 and day.n_duplicates == 0
    assert write_jsonl(day, tmp_path / "e.jsonl").read_text() == ""
    assert pq.read_table(write_parquet(day, tmp_path / "e.parquet")).num_rows == 0


def test_config_is_strict():
    with pytest.raises(ValidationError):
        ClickSimConfig(duplicate_rates=0.1)
    with pytest.raises(ValidationError):
        ClickSimConfig(late_rate=1.5)
