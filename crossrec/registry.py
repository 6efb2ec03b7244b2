"""Which model version is the champion: the one whose recommendations are published.

``models/registry.json`` holds a stack of champions (the top one is current; ``rollback`` pops
it) and an append-only history of every decision: the quality gate's promotions and rejections,
manual promotions and rollbacks, each with a reason. It is rewritten atomically under the
``models`` lock, so a crash leaves the previous registry and two writers never interleave.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from crossrec.errors import CrossrecError
from crossrec.integrity import MANIFEST
from crossrec.lock import exclusive
from crossrec.storage import write_text_atomic
from crossrec.strict import StrictModel

REGISTRY = "registry.json"
_LOCK_TIMEOUT_S = 60.0  # registry edits take milliseconds
Action = Literal["promote", "reject", "rollback"]


class Decision(StrictModel):
    at: datetime
    """When it was recorded (UTC)."""
    action: Action
    """``promote`` (gate or manual), ``reject`` (gate) or ``rollback`` (manual)."""
    version: str
    """The model version it is about (after a rollback: the restored champion)."""
    reason: str
    """Why, in words: the gate's comparison, or who promoted it by hand."""
    run_date: date | None = None
    """The nightly run that decided it; None for manual actions."""
    retired: str | None = None
    """For a rollback: the champion it removed."""


class Registry(BaseModel):
    model_config = ConfigDict(extra="forbid")  # edited in place under the lock

    champions: list[str] = Field(default_factory=list)
    """Champions, oldest first; the last one is current, ``rollback`` removes it."""
    history: list[Decision] = Field(default_factory=list)
    """Every decision, in order."""

    @property
    def champion(self) -> str | None:
        return self.champions[-1] if self.champions else None

    def status(self, version: str) -> str:
        if version == self.champion:
            return "champion"
        if version in self.champions:
            return "former champion"
        state = "candidate"
        for d in self.history:
            if d.action == "rollback" and d.retired == version:
                state = "rolled back"
            elif d.version == version and d.action != "rollback":
                state = "rejected" if d.action == "reject" else "promoted"
        return state


def registry_path(models_dir: Path) -> Path:
    return models_dir / REGISTRY


def read_registry(models_dir: Path) -> Registry:
    path = registry_path(models_dir)
    if not path.is_file():
        return Registry()
    try:
        return Registry.model_validate_json(path.read_text())
    except ValueError as exc:
        raise CrossrecError(f"{path}: unreadable model registry ({exc})") from None


def versions(models_dir: Path) -> list[str]:
    """Finished model versions (those with a checksum manifest), oldest first."""
    if not models_dir.is_dir():
        return []
    return sorted(p.name for p in models_dir.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).is_file())


@contextmanager
def _editing(models_dir: Path) -> Iterator[Registry]:
    """Read, let the caller change, write back atomically; one editor at a time."""
    with exclusive(models_dir.parent, "models", "model registry update", _LOCK_TIMEOUT_S):
        registry = read_registry(models_dir)
        yield registry
        write_text_atomic(registry.model_dump_json(indent=2), registry_path(models_dir))


def _decision(action: Action, version: str, reason: str, run_date: date | None,
              retired: str | None = None) -> Decision:
    return Decision(at=datetime.now(UTC), action=action, version=version, reason=reason,
                    run_date=run_date, retired=retired)


def _check_version(models_dir: Path, version: str) -> None:
    if version not in versions(models_dir):
        known = ", ".join(versions(models_dir)[-5:]) or "none"
        raise CrossrecError(f"no finished model version {version!r} in {models_dir} "
                            f"(newest: {known})")


class ChampionChanged(CrossrecError):
    """The champion changed between reading it and promoting over it."""


_ANY = object()


def promote(models_dir: Path, version: str, reason: str, run_date: date | None = None,
            expected: str | None | object = _ANY) -> Registry:
    """Make ``version`` the champion. A version already on the stack moves to the top, so a
    rollback always returns to a different version. ``expected``: the champion the caller
    judged against; if another run or a person changed it meanwhile, raise
    :class:`ChampionChanged` rather than bury their change."""
    _check_version(models_dir, version)
    with _editing(models_dir) as registry:
        if expected is not _ANY and registry.champion != expected:
            raise ChampionChanged(f"the champion changed from {expected} to "
                                  f"{registry.champion} while {version} was judged")
        if version in registry.champions:
            registry.champions.remove(version)
        registry.champions.append(version)
        registry.history.append(_decision("promote", version, reason, run_date))
    return registry


def version_date(version: str) -> date | None:
    """The run date a version was trained for (its ``YYYYMMDD-`` prefix)."""
    try:
        return date(int(version[:4]), int(version[4:6]), int(version[6:8]))
    except ValueError:
        return None


def reject(models_dir: Path, version: str, reason: str, run_date: date | None = None
           ) -> Registry:
    """Record that the gate kept ``version`` out; the champion does not change."""
    with _editing(models_dir) as registry:
        registry.history.append(_decision("reject", version, reason, run_date))
    return registry


def rollback(models_dir: Path, reason: str) -> Registry:
    """Retire the current champion and restore the one before it."""
    with _editing(models_dir) as registry:
        if len(registry.champions) < 2:
            raise CrossrecError(f"nothing to roll back to: the registry in {models_dir} has "
                                f"{len(registry.champions)} champion(s)")
        retired = registry.champions.pop()
        registry.history.append(_decision("rollback", registry.champions[-1],
                                          f"{reason} (retired {retired})", None, retired))
    return registry


def version_summary(models_dir: Path, version: str) -> dict:
    """What ``crossrec models list`` shows about one version."""
    folder = models_dir / version
    try:
        metrics = json.loads((folder / "metrics.json").read_text())
    except (OSError, ValueError):
        metrics = {}
    fusion = metrics.get("fusion") or {}
    return {"version": version, "val_ndcg@10": fusion.get("val_ndcg@10",
                                                          metrics.get("best_val_ndcg@10")),
            # a refit's score is its held-out version's: it names that version
            "selection_version": (metrics.get("refit") or {}).get("selection_version")}
