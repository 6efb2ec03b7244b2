"""Model versions carry checksums; a damaged version is refused, never loaded."""

import hashlib
import json
import os

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


# --- issue 24 #12: a rewritten checksums.json is not believed ---------------------------------

def hand_made_version(root, files: dict[str, bytes], day="20261122", legacy=False):
    """A version folder named as save_model names it: its run date and the sha256 of the
    weights, the config, then each bundle part as its name and bytes (a version from before
    bundle.json: the plain bytes of every part)."""
    parts = ["model.safetensors", "config.json"]
    named = ["bundle.json", "graph.safetensors", "fusion.json", "reranker.safetensors"]
    if legacy:
        content = b"".join(files[n] for n in parts + named[1:] + ["reranker.json"] if n in files)
    else:
        content = b"".join(files[n] for n in parts) + b"".join(
            n.encode() + files[n] for n in named if n in files)
    digest = hashlib.sha256(content).hexdigest()
    folder = root / f"{day}-{digest[:12]}"
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    write_manifest(folder)
    return folder


FILES = {"model.safetensors": b"weights" * 50, "config.json": b'{"dim": 8}',
         "bundle.json": b'{"format": 1}',
         "graph.safetensors": b"graph" * 20, "fusion.json": b'{"weight": 0.5}',
         "metrics.json": b"{}"}
TAMPER = st.sampled_from(["flip", "truncate", "remove", "swap bytes across files", "rename",
                          "rename to a plain name"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tamper=TAMPER, name=st.sampled_from(["model.safetensors", "config.json", "bundle.json",
                                            "graph.safetensors", "fusion.json"]),
       at=st.integers(0, 10**6))
def test_content_changed_with_its_checksums_rewritten_is_refused(tmp_path_factory, tamper,
                                                                 name, at):
    folder = hand_made_version(tmp_path_factory.mktemp("v") / "models", FILES)
    verify(folder)
    path = folder / name
    raw = bytearray(path.read_bytes())
    if tamper == "flip":
        raw[at % len(raw)] ^= 1 + at % 255
        path.write_bytes(bytes(raw))
    elif tamper == "truncate":
        path.write_bytes(bytes(raw[: at % len(raw)]))
    elif tamper == "remove":
        path.unlink()
    elif tamper == "swap bytes across files":  # same concatenation order broken differently
        other = folder / ("fusion.json" if name != "fusion.json" else "config.json")
        other.write_bytes(other.read_bytes() + b" ")
    elif tamper.startswith("rename"):
        new = "20261122-" + "0" * 12 if tamper == "rename" else "20261122-mine"
        folder = folder.rename(folder.with_name(new))
    write_manifest(folder)  # the manifest agrees with the tampered bytes
    with pytest.raises(CorruptModelError, match=rf"{folder.name}: (content hashes to|not a "
                                                r"model version name)"):
        verify(folder)
    with pytest.raises(CorruptModelError):
        load_model(folder)


def test_a_saved_bundle_is_named_by_the_documented_digest(version):
    """save_model and verify share one digest: recompute it by hand from the saved files."""
    folder, _ = version
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    again = hand_made_version(folder.parent / "again", files)
    assert again.name == folder.name


def test_a_version_saved_before_bundle_json_still_verifies(tmp_path):
    old = {k: v for k, v in FILES.items() if k != "bundle.json"} | {"reranker.json": b"{}"}
    folder = hand_made_version(tmp_path / "models", old, legacy=True)
    verify(folder)
    (folder / "reranker.json").write_bytes(b'{"k": 1}')
    write_manifest(folder)
    with pytest.raises(CorruptModelError, match="content hashes to"):
        verify(folder)
