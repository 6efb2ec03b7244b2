"""Model versions carry checksums; a damaged version is refused, never loaded."""

import json
import os

import numpy as np
import polars as pl
import pytest

from crossrec.bundle.bundle import Bundle
from crossrec.bundle.config import BundleConfig, GraphPart
from crossrec.data.domain import load_domain_data
from crossrec.errors import CorruptModelError
from crossrec.integrity import MANIFEST, verify, write_manifest
from crossrec.models.item_graph import ItemGraph
from crossrec.train.checkpoint import load_model, remove_orphans, save_model
from crossrec.train.stages import new_model
from tests.conftest import RUN_DATE, tiny_settings


@pytest.fixture
def version(tmp_path):
    """A hybrid version (weights, config, vocabulary, graph) of a four-user world."""
    rows = [("u0", "sport:s0", "sport"), ("u0", "cloth:t0", "cloth"),
            ("u1", "sport:s1", "sport"), ("u1", "cloth:t1", "cloth")]
    frame = pl.DataFrame(rows, schema=["user_id", "item_id", "domain"], orient="row")
    frame.with_columns(pl.lit("train").alias("role"),
                       pl.datetime(2026, 11, 1, time_zone="UTC").alias("event_ts"),
                       ).write_parquet(tmp_path / "i.parquet")
    pl.DataFrame({"user_id": ["u0", "u1"], "user_split": ["train"] * 2,
                  "split_seed": [1] * 2}).write_parquet(tmp_path / "s.parquet")
    data = load_domain_data(tmp_path / "i.parquet", tmp_path / "s.parquet", "sport", "cloth")
    model = new_model(tiny_settings(tmp_path / "d"), data)
    graph = ItemGraph.build(data, alpha=0.5, beta=0.3)
    config = BundleConfig(max_history=20, graph=GraphPart(alpha=0.5, beta=0.3, weight=0.5))
    folder = Bundle(model, data.vocab, config, graph, selection={"weight": 0.5}).save(
        tmp_path / "models", RUN_DATE, {}, {})
    return folder, data


def test_a_version_lists_every_file_and_verifies(version):
    folder, data = version
    sums = json.loads((folder / MANIFEST).read_text())
    assert set(sums) == {p.name for p in folder.iterdir()} - {MANIFEST}
    verify(folder)
    assert Bundle.load(folder).recommender(data).score(np.arange(2)).shape == (2, 2)


@pytest.mark.parametrize("name", ["model.safetensors", "graph.safetensors", "config.json",
                                  "items.parquet"])
def test_one_flipped_byte_is_refused_by_name(version, name):
    folder, data = version
    path = folder / name
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptModelError, match=f"{name}: checksum mismatch"):
        load_model(folder)
    with pytest.raises(CorruptModelError, match=name):
        Bundle.load(folder)


def test_truncated_missing_and_unlisted_files_are_refused(version):
    folder, _ = version
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # a torn copy
    with pytest.raises(CorruptModelError, match="model.safetensors"):
        load_model(folder)
    weights.unlink()
    with pytest.raises(CorruptModelError, match="model.safetensors: missing"):
        load_model(folder)
    write_manifest(folder)
    (folder / "extra.bin").write_bytes(b"x")
    with pytest.raises(CorruptModelError, match="extra.bin: not listed"):
        verify(folder)
    (folder / MANIFEST).unlink()
    with pytest.raises(CorruptModelError, match="no checksums.json"):
        load_model(folder)


def test_the_next_save_removes_a_dead_writers_staging(version, tmp_path):
    folder, data = version
    root = folder.parent
    dead = root / ".staging-999999999-abc"  # no such pid
    alive = root / f".staging-{os.getpid()}-def"
    dead.mkdir()
    alive.mkdir()
    model, vocab = load_model(folder)
    save_model(root, model, vocab, RUN_DATE, {}, {})
    assert not dead.exists() and alive.is_dir()
    assert remove_orphans(root) == []  # the live one stays


def test_a_version_saved_before_checksums_is_replaced_on_resave(version):
    folder, data = version
    bundle = Bundle.load(folder)
    (folder / MANIFEST).unlink()  # as written by an older crossrec
    again = bundle.save(folder.parent, RUN_DATE, {}, {})
    assert again == folder
    verify(folder)  # whole again, with its checksums
