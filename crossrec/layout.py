"""The one place that knows where things live under the data folder.

Every path of the product's state is a method of :class:`Layout`; callers never join folder
names onto ``data_dir`` themselves. Partition values are real dates (never free text) and
domain names are checked before they become folder names.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from crossrec.storage import partition_dir

_PARTITION = re.compile(r"^ingest_date=(\d{4}-\d{2}-\d{2})$")


def _domain(value: str) -> str:
    if not value.replace("_", "").isalnum():
        raise ValueError(f"invalid domain partition value {value!r}")
    return value


def landing_partitions(landing: Path, table: str = "interactions") -> dict[date, list[Path]]:
    """Files of each ``ingest_date=`` partition under ``landing`` (staging folders skipped)."""
    out: dict[date, list[Path]] = {}
    if not landing.is_dir():
        return out
    for folder in sorted(landing.iterdir()):
        m = _PARTITION.match(folder.name)
        files = sorted((folder / table).glob("*.parquet")) if m else []
        if files:
            out[date.fromisoformat(m.group(1))] = files
    return out


@dataclass(frozen=True)
class Layout:
    """Paths under one data folder."""

    data_dir: Path

    # -- inputs ---------------------------------------------------------------------------
    @property
    def landing(self) -> Path:
        """``landing/ingest_date=D/``: interactions and items as collected."""
        return self.data_dir / "landing"

    def landing_partition(self, ingest_date: date) -> Path:
        return partition_dir(self.landing, "ingest_date", ingest_date)

    @property
    def quarantine(self) -> Path:
        """Rows that could not be used, with file, line, column and reason."""
        return self.data_dir / "quarantine"

    @property
    def downloads(self) -> Path:
        """Downloaded inputs and their ``.meta.json``."""
        return self.data_dir / "cache" / "downloads"

    # -- features -------------------------------------------------------------------------
    @property
    def warehouse(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def duckdb_spill(self) -> Path:
        return self.data_dir / "tmp" / "duckdb"

    @property
    def marts(self) -> Path:
        return self.data_dir / "marts"

    def marts_partition(self, run_date: date) -> Path:
        """``marts/run_date=D/``: the marts the trainers read."""
        return partition_dir(self.marts, "run_date", run_date)

    # -- models ---------------------------------------------------------------------------
    def work(self, run_date: date, stage: str) -> Path:
        """``work/run_date=D/<stage>/``: intermediate checkpoints of one run."""
        return partition_dir(self.data_dir / "work", "run_date", run_date) / stage

    @property
    def models(self) -> Path:
        """``models/<version>/``: immutable bundles, and ``registry.json``."""
        return self.data_dir / "models"

    def model(self, version: str) -> Path:
        if not version or "/" in version or version.startswith("."):
            raise ValueError(f"invalid model version {version!r}")
        return self.models / version

    def compare(self, run_date: date) -> Path:
        """Where ``crossrec evaluate`` trains our model and its ablations."""
        return self.data_dir / "compare" / run_date.isoformat()

    # -- reports --------------------------------------------------------------------------
    @property
    def reports_root(self) -> Path:
        return self.data_dir / "reports"

    def reports(self, run_date: date) -> Path:
        """``reports/D/``: collect.json, validation, metrics.json, report.md, gate.json."""
        return self.reports_root / run_date.isoformat()

    # -- lake -----------------------------------------------------------------------------
    def recommendations(self, run_date: date, domain: str) -> Path:
        """``lake/recommendations/run_date=D/domain=X/``: one published partition."""
        root = self.data_dir / "lake" / "recommendations"
        return partition_dir(root, "run_date", run_date) / f"domain={_domain(domain)}"

    def recommendations_staging(self, run_date: date, domain: str, model_version: str) -> Path:
        """Where the parts of one (date, domain, model) are written before the swap: a fixed
        name, so every shard task of a run (threads or Dask processes) finds the same
        folder; outside the dataset root, so readers never see it."""
        key = hashlib.sha256(f"{run_date}|{domain}|{model_version}".encode()).hexdigest()[:16]
        return self.data_dir / "lake" / ".staging" / f"recommendations-{key}"

    def clicks(self, event_date: date) -> Path:
        """``lake/clicks/event_date=D/``: ingested click events."""
        return partition_dir(self.data_dir / "lake" / "clicks", "event_date", event_date)
