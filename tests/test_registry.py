"""The model registry: a champion stack with an audit history, rewritten atomically."""

import json

import pytest

from crossrec.errors import CrossrecError
from crossrec.integrity import write_manifest
from crossrec.registry import (
    promote,
    read_registry,
    registry_path,
    reject,
    rollback,
    versions,
)


@pytest.fixture
def models(tmp_path):
    root = tmp_path / "data" / "models"
    for name in ("20261120-a", "20261121-b", "20261122-c"):
        (root / name).mkdir(parents=True)
        (root / name / "config.json").write_text("{}")
        write_manifest(root / name)
    (root / "20261123-unfinished").mkdir()  # no manifest: never listed nor promotable
    (root / ".staging-1-x").mkdir()
    return root


def test_promote_reject_rollback_keep_a_stack_and_a_history(models):
    assert versions(models) == ["20261120-a", "20261121-b", "20261122-c"]
    assert read_registry(models).champion is None
    promote(models, "20261120-a", "gate: first")
    promote(models, "20261121-b", "gate: better")
    reject(models, "20261122-c", "worse")
    reg = read_registry(models)
    assert reg.champions == ["20261120-a", "20261121-b"]
    assert [reg.status(v) for v in versions(models)] == ["former champion", "champion", "rejected"]
    back = rollback(models, "manual")
    assert back.champion == "20261120-a"
    assert back.status("20261121-b") == "rolled back"
    assert [d.action for d in back.history] == ["promote", "promote", "reject", "rollback"]
    assert back.history[-1].reason == "manual (retired 20261121-b)"
    # persisted: a fresh read sees the same
    assert read_registry(models) == back
    with pytest.raises(CrossrecError, match="nothing to roll back to"):
        rollback(models, "again")


def test_promoting_the_champion_again_does_not_grow_the_stack(models):
    promote(models, "20261120-a", "x")
    reg = promote(models, "20261120-a", "x again")
    assert reg.champions == ["20261120-a"] and len(reg.history) == 2


def test_unknown_or_unfinished_versions_cannot_be_promoted(models):
    for name in ("nope", "20261123-unfinished", ".staging-1-x"):
        with pytest.raises(CrossrecError, match="no finished model version"):
            promote(models, name, "x")
    assert not registry_path(models).exists()


def test_a_damaged_registry_is_a_clear_error(models):
    registry_path(models).write_text(json.dumps({"champions": [], "oops": 1}))
    with pytest.raises(CrossrecError, match="unreadable model registry"):
        read_registry(models)


def test_re_promoting_an_older_champion_moves_it_to_the_top(models):
    for name in ("20261120-a", "20261121-b", "20261120-a"):
        promote(models, name, "x")
    assert read_registry(models).champions == ["20261121-b", "20261120-a"]
    assert rollback(models, "undo").champion == "20261121-b"  # a different version
