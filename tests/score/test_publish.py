"""Parts, checks, atomic swap and the three readers, on a small fixed-score recommender."""

from datetime import date

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import torch

from crossrec import storage
from crossrec.layout import Layout
from crossrec.schemas import RECOMMENDATIONS
from crossrec.score.publish import (
    check_staging,
    recommendation_table,
    shard_ranges,
    write_part,
)
from crossrec.storage import recover_swap, swap_into_place
from tests.score.test_recommender import Fixed, data_with_seen

DAY = date(2026, 11, 22)
K = 3


@pytest.fixture
def rec():
    rng = np.random.default_rng(0)
    seen = [rng.choice(8, size=rng.integers(0, 4), replace=False) for _ in range(11)]
    seen[4] = np.zeros(0, dtype=np.int64)  # a cold user: no target history, still scored
    table = torch.randn(11, 8, generator=torch.Generator().manual_seed(0))
    data = data_with_seen(seen, 3, 8)
    data.users = np.array([f"u{i:02d}" for i in range(11)], dtype=object)  # sorted, as loaded
    return Fixed(data, table)


def seen_ids(rec):
    data = rec.data
    return {data.users[u]: set(data.vocab.local_ids[h]) for u, h in
            enumerate(data.all_hist["t"]) if len(h)}


def publish(rec, tmp_path, version="v1", shard_users=4):
    staging = Layout(tmp_path).recommendations_staging(DAY, "t", version)
    shards = shard_ranges(len(rec.data.users), shard_users)
    for i, (a, b) in enumerate(shards):
        write_part(recommendation_table(rec, K, version, np.arange(a, b)), staging, i)
    check_staging(staging, seen_ids(rec), K, set(rec.data.users), len(shards))
    return swap_into_place(staging, Layout(tmp_path).recommendations(DAY, "t"))


def test_shard_ranges_cover_every_user_once():
    assert shard_ranges(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert shard_ranges(0, 4) == [(0, 0)]
    with pytest.raises(ValueError):
        shard_ranges(5, 0)


def test_every_user_scored_sorted_without_seen_items(rec, tmp_path):
    final = publish(rec, tmp_path)
    assert sorted(p.name for p in final.iterdir()) == [
        "part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    t = pq.read_table(sorted(final.iterdir())).to_pylist()
    assert {r["user_id"] for r in t} == set(rec.data.users)  # cold user u4 included
    keys = [(r["user_id"], r["rank"]) for r in t]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    seen = seen_ids(rec)
    assert not [r for r in t if r["item_id"] in seen.get(r["user_id"], ())]
    assert pq.ParquetFile(final / "part-00000.parquet").metadata.row_group(0).column(
        0).compression == "ZSTD"


def test_three_readers_read_the_partition_unchanged(rec, tmp_path):
    publish(rec, tmp_path)
    root = tmp_path / "lake" / "recommendations"
    want = pq.read_table(sorted(Layout(tmp_path).recommendations(DAY, "t").iterdir())).to_pylist()
    want = [(r["user_id"], r["rank"], r["item_id"], r["score"]) for r in want]

    got_duck = duckdb.sql(
        "SELECT user_id, rank, item_id, score, run_date, domain FROM read_parquet(?, "
        "hive_partitioning = true) ORDER BY user_id, rank",
        params=[str(root / "*" / "*" / "*.parquet")]).fetchall()
    assert [r[:4] for r in got_duck] == want
    assert {(r[4], r[5]) for r in got_duck} == {(DAY, "t")}

    got_pl = (pl.scan_parquet(root / "**" / "*.parquet", hive_partitioning=True)
              .sort("user_id", "rank").collect())
    assert list(got_pl.select("user_id", "rank", "item_id", "score").iter_rows()) == want
    assert got_pl["run_date"].unique().to_list() == [DAY]

    dataset = ds.dataset(root, format="parquet", partitioning="hive")
    got_pa = dataset.to_table().sort_by([("user_id", "ascending"), ("rank", "ascending")])
    assert list(zip(*[got_pa[c].to_pylist() for c in ("user_id", "rank", "item_id", "score")],
                    strict=True)) == want
    assert set(got_pa["domain"].to_pylist()) == {"t"}


def test_republishing_a_date_gives_identical_files(rec, tmp_path):
    final = publish(rec, tmp_path)
    first = {p.name: p.read_bytes() for p in final.iterdir()}
    publish(rec, tmp_path)
    assert {p.name: p.read_bytes() for p in final.iterdir()} == first
    assert not list((tmp_path / "lake" / ".staging").iterdir())  # nothing left behind


@pytest.mark.parametrize("breakage, message", [
    ("duplicate", "duplicate"), ("seen", "already has"), ("missing_user", "no recommendations"),
    ("missing_part", "parts, expected"), ("order", "out of order")])
def test_check_staging_refuses_a_bad_batch(rec, tmp_path, breakage, message):
    staging = tmp_path / "staging"
    table = recommendation_table(rec, K, "v1")
    users = set(rec.data.users)
    n_parts = 1
    if breakage == "duplicate":
        table = pa.concat_tables([table, table.slice(0, 1)])
    elif breakage == "seen":
        user = next(u for u, s in seen_ids(rec).items() if s)
        row = next(i for i, u in enumerate(table["user_id"].to_pylist()) if u == user)
        items = table["item_id"].to_pylist()
        items[row] = sorted(seen_ids(rec)[user])[0]
        table = table.set_column(2, RECOMMENDATIONS.field("item_id"), pa.array(items))
    elif breakage == "missing_user":
        users = users | {"ghost"}
    elif breakage == "missing_part":
        n_parts = 2
    elif breakage == "order":
        scores = table["score"].to_numpy().copy()
        scores[0], scores[1] = scores[1] - 1, scores[0] + 1
        table = table.set_column(3, RECOMMENDATIONS.field("score"), pa.array(scores))
    write_part(table, staging, 0)
    with pytest.raises(ValueError, match=message):
        check_staging(staging, seen_ids(rec), K, users, n_parts)


def test_a_crash_between_the_fallback_renames_is_recovered(rec, tmp_path, monkeypatch):
    final = publish(rec, tmp_path)
    before = {p.name: p.read_bytes() for p in final.iterdir()}
    staging = tmp_path / "lake" / ".staging" / "next"
    staging.mkdir(parents=True)
    (staging / "part-00000.parquet").write_bytes(b"new")
    monkeypatch.setattr(storage, "_exchange", lambda a, b: False)  # a non-Linux platform
    calls = []
    real = storage.os.replace

    def crash_on_second(src, dst):
        calls.append(src)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed between the renames")
        return real(src, dst)

    monkeypatch.setattr(storage.os, "replace", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        swap_into_place(staging, final)
    monkeypatch.setattr(storage.os, "replace", real)
    assert not final.exists()  # the moment a reader could notice
    assert recover_swap(final, staging.parent)
    assert {p.name: p.read_bytes() for p in final.iterdir()} == before


def test_exchange_swap_leaves_old_or_new_never_neither(rec, tmp_path, monkeypatch):
    final = publish(rec, tmp_path)
    staging = tmp_path / "lake" / ".staging" / "next"
    staging.mkdir(parents=True)
    (staging / "part-00000.parquet").write_bytes(b"new")

    def crash(*a, **k):
        raise KeyboardInterrupt("killed while deleting the old folder")

    monkeypatch.setattr(storage.shutil, "rmtree", crash)
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    if storage._exchange(tmp_path / "a", tmp_path / "b"):  # exchange supported here
        with pytest.raises(KeyboardInterrupt):
            swap_into_place(staging, final)
        assert (final / "part-00000.parquet").read_bytes() == b"new"
    else:
        pytest.skip("renameat2(RENAME_EXCHANGE) is not available on this platform")
