"""The synthetic world: reproducible, streaming, shaped like real data, with a usable truth."""

from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from crossrec.collect.sources import SyntheticSource
from crossrec.collect.synthetic import SyntheticWorld
from crossrec.schemas import ITEMS, STAGED
from tests.conftest import RUN_DATE


def make_world(**kw) -> SyntheticWorld:
    kw = {"n_users": 300, "n_items": 80, **kw}
    return SyntheticWorld(SyntheticSource(**kw), "sport", "cloth")


def rows(world: SyntheticWorld, rows_per_batch: int = 100_000) -> pa.Table:
    return pa.Table.from_batches(list(world.interactions(RUN_DATE, rows_per_batch)),
                                 schema=STAGED)


def test_same_seed_same_world_other_seed_other_world():
    assert rows(make_world(seed=1)).equals(rows(make_world(seed=1)))
    assert not rows(make_world(seed=1)).equals(rows(make_world(seed=2)))
    assert make_world(seed=1).items().equals(make_world(seed=1).items())


def test_schema_ids_lines_and_time_window():
    t = rows(make_world(seed=4))
    assert t.schema == STAGED
    for domain in ("sport", "cloth"):
        ids = t.filter(pc.equal(t["domain"], domain))["item_id"].to_pylist()
        assert ids and all(i.startswith(domain + ":") for i in ids)
    assert all(len(u) == 7 and u.startswith("u") for u in t["user_id"].to_pylist())
    assert t["line"].to_pylist() == list(range(1, t.num_rows + 1))
    assert set(t["file"].to_pylist()) == {"synthetic:seed=4"}
    assert set(t["source"].to_pylist()) == {"synthetic"}
    assert t["rating"].null_count == t.num_rows
    ts = t["event_ts"].to_pylist()
    assert max(ts).date() < RUN_DATE and (RUN_DATE - min(ts).date()).days <= 30


def test_user_ids_keep_six_digits_or_more():
    big = SyntheticWorld(SyntheticSource(n_users=1_234_567, n_items=20), "a", "b")
    ids = big.user_ids()
    assert ids[0].as_py() == "u0000000" and ids[-1].as_py() == "u1234566"
    assert make_world().user_ids()[5].as_py() == "u000005"


def test_no_duplicate_pairs_and_overlap_share():
    t = rows(make_world(overlap=0.7, n_users=2000))
    pairs = list(zip(t["user_id"].to_pylist(), t["item_id"].to_pylist(), strict=True))
    assert len(pairs) == len(set(pairs))
    by_user: dict[str, set[str]] = {}
    for u, d in zip(t["user_id"].to_pylist(), t["domain"].to_pylist(), strict=True):
        by_user.setdefault(u, set()).add(d)
    both = sum(len(v) == 2 for v in by_user.values()) / 2000
    assert 0.65 < both < 0.75


def test_popularity_is_skewed():
    t = rows(make_world(taste_strength=0.0, zipf_exponent=1.2))
    counts = sorted(Counter(t["item_id"].to_pylist()).values(), reverse=True)
    assert counts[0] > 4 * counts[len(counts) // 2]


def test_size_knob_scales_rows():
    assert rows(make_world(mean_interactions=20)).num_rows > 1.5 * rows(
        make_world(mean_interactions=8)).num_rows
    assert rows(make_world(n_users=600)).num_rows > 1.7 * rows(make_world(n_users=300)).num_rows


def test_batches_respect_size_and_do_not_change_the_rows():
    world = make_world()
    sizes = [b.num_rows for b in world.interactions(RUN_DATE, rows_per_batch=777)]
    assert all(s == 777 for s in sizes[:-1]) and 0 < sizes[-1] <= 777
    assert rows(world, 777).equals(rows(world, 1)) and rows(world, 1).equals(rows(world))
    with pytest.raises(ValueError):
        world.interactions(RUN_DATE, rows_per_batch=0)


def test_peaked_tastes_still_get_their_distinct_items():
    # Very peaked tastes exhaust the inverse-CDF rounds: the Gumbel fallback must finish them.
    t = rows(make_world(taste_strength=12.0, mean_interactions=30, n_items=60))
    pairs = list(zip(t["user_id"].to_pylist(), t["item_id"].to_pylist(), strict=True))
    assert len(pairs) == len(set(pairs))
    per_user = Counter(u for u, i in pairs if i.startswith("sport:"))
    assert np.mean(list(per_user.values())) > 20


def test_items_table():
    world = make_world(n_categories=5)
    items = world.items()
    assert items.schema == ITEMS and items.num_rows == 2 * 80
    assert items["item_id"].to_pylist()[:2] == ["sport:0", "sport:1"]
    assert items["title"][81].as_py() == "cloth item 1"
    cats = items["categories"].to_pylist()
    assert all(c[0] in ("sport", "cloth") and c[1].startswith(f"{c[0]} category ") for c in cats)
    for domain in ("sport", "cloth"):
        leaves = {c[1] for c in cats if c[0] == domain}
        assert 1 < len(leaves) <= 5
        assert [c[1] for c in cats if c[0] == domain] == [
            f"{domain} category {k}" for k in world.item_category(domain)]
    prices = np.array(items["price"].to_pylist())
    assert (prices > 0).all() and prices.std() > 0
    assert 1 < len(set(items["brand"].to_pylist())) <= 24


def test_categories_are_informative():
    # Items of one category sit around one centre: same-category latent vectors align more.
    world = make_world(n_items=400, n_categories=6, zipf_exponent=0.0)  # taste term only
    pref = world.preference(["u000001"] * 400, world.item_ids("sport"))
    cat = world.item_category("sport")
    between = np.var([pref[cat == c].mean() for c in range(6)])
    within = np.mean([pref[cat == c].var() for c in range(6)])
    assert between > 0.3 * within


def test_index_helpers_and_unknown_ids():
    world = make_world()
    assert world.n_users == 300 and world.n_items == 80
    assert world.user_index(["u000003", "u3", "u000300", "x", "u000299"]).tolist() == [
        3, -1, -1, -1, 299]
    dom, local = world.item_index(pa.array(["cloth:7", "sport:79", "sport:80", "shoe:1", None]))
    assert dom.tolist() == [1, 0, -1, -1, -1] and local.tolist() == [7, 79, -1, -1, -1]
    pref = world.preference(["u000001", "nobody", "u000001"], ["sport:1", "sport:1", "x:1"])
    assert np.isfinite(pref[0]) and np.isnan(pref[1:]).all()
    with pytest.raises(ValueError):
        world.preference(["u000001"], ["sport:1", "sport:2"])


def test_truth_is_rebuilt_from_the_config_alone():
    a, b = make_world(seed=5), make_world(seed=5)
    list(a.interactions(RUN_DATE))  # sampling must not disturb the truth
    users, items = ["u000010", "u000020"], ["cloth:3", "sport:9"]
    assert np.array_equal(a.preference(users, items), b.preference(users, items))


def test_observed_items_are_preferred_over_random_ones():
    world = make_world(n_users=500, n_items=200)
    t = rows(world)
    observed = world.preference(t["user_id"], t["item_id"])
    rng = np.random.default_rng(0)
    random_items = [f"{d}:{j}" for d, j in zip(t["domain"].to_pylist(),
                                                 rng.integers(0, 200, t.num_rows), strict=True)]
    baseline = world.preference(t["user_id"], random_items)
    assert observed.mean() > baseline.mean() + 1.0
