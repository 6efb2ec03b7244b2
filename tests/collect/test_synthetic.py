from collections import Counter

import pyarrow.compute as pc

from crossrec.collect.synthetic import generate_interactions
from crossrec.config import SyntheticSource
from crossrec.schemas import INTERACTIONS
from tests.conftest import RUN_DATE


def world(**kw):
    return generate_interactions(SyntheticSource(n_users=300, n_items=80, **kw), "sport",
                                 "cloth", RUN_DATE)


def test_same_seed_same_world_other_seed_other_world():
    assert world(seed=1).equals(world(seed=1))
    assert not world(seed=1).equals(world(seed=2))


def test_schema_ids_and_time_window():
    t = world()
    assert t.schema == INTERACTIONS
    for domain in ("sport", "cloth"):
        ids = t.filter(pc.equal(t["domain"], domain))["item_id"].to_pylist()
        assert ids and all(i.startswith(domain + ":") for i in ids)
    ts = t["event_ts"].to_pylist()
    assert max(ts).date() < RUN_DATE and (RUN_DATE - min(ts).date()).days <= 30


def test_no_duplicate_pairs_and_overlap_share():
    t = world(overlap=0.7)
    pairs = list(zip(t["user_id"].to_pylist(), t["item_id"].to_pylist(), strict=True))
    assert len(pairs) == len(set(pairs))
    by_user = {}
    for u, d in zip(t["user_id"].to_pylist(), t["domain"].to_pylist(), strict=True):
        by_user.setdefault(u, set()).add(d)
    both = sum(len(v) == 2 for v in by_user.values()) / 300
    assert 0.6 < both < 0.8


def test_popularity_is_skewed():
    t = world(taste_strength=0.0, zipf_exponent=1.2)
    counts = sorted(Counter(t["item_id"].to_pylist()).values(), reverse=True)
    assert counts[0] > 4 * counts[len(counts) // 2]


def test_size_knob_scales_rows():
    assert world(mean_interactions=20).num_rows > 1.5 * world(mean_interactions=8).num_rows
