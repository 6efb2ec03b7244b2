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

    def landing_files(self, ingest_date: date, table: str = "interactions") -> list[Path]:
        """The Parquet files of one landing partition's ``interactions`` or ``items``."""
        if table not in ("interactions", "items"):
            raise ValueError(f"unknown landing table {table!r}")
        return sorted((self.landing_partition(ingest_date) / table).glob("*.parquet"))

    @property
    def landing_staging(self) -> Path:
        """Where a collection run writes before the swap (outside the dataset glob)."""
        return self.landing / ".staging"

    @property
    def quarantine(self) -> Path:
        """Rows that could not be used, with file, line, column and reason."""
        return self.data_dir / "quarantine"

    def quarantine_partition(self, ingest_date: date) -> Path:
        """``quarantine/ingest_date=D/``: the last good collection's quarantined rows."""
        return partition_dir(self.quarantine, "ingest_date", ingest_date)

    def failed_quarantine(self, ingest_date: date) -> Path:
        """``quarantine/.failed/ingest_date=D/``: a failed collection's, for inspection."""
        return partition_dir(self.quarantine / ".failed", "ingest_date", ingest_date)

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

    def marts_staging(self, run_date: date) -> Path:
        """Where a build's exports wait until they are swapped into ``marts_partition``."""
        return self.marts / ".staging" / self.marts_partition(run_date).name

    def placeholder(self, kind: str) -> Path:
        """A zero-row Parquet file a staging model reads when nothing of ``kind`` exists."""
        if kind not in ("items", "clicks"):
            raise ValueError(f"unknown placeholder {kind!r}")
        return self.data_dir / "tmp" / f"empty-{kind}.parquet"

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

    def collect_summary(self, ingest_date: date) -> Path:
        return self.reports(ingest_date) / "collect.json"

    def validation_report(self, run_date: date) -> Path:
        return self.reports(run_date) / "validation.json"

    def data_docs(self, run_date: date) -> Path:
        """Great Expectations Data Docs of the run's validation."""
        return self.reports(run_date) / "validation"

    def gate_report(self, run_date: date) -> Path:
        return self.reports(run_date) / "gate.json"

    def clicks_report(self, event_date: date) -> Path:
        return self.reports(event_date) / "clicks.json"

    # -- lake -----------------------------------------------------------------------------
    def recommendations(self, run_date: date, domain: str) -> Path:
        """``lake/recommendations/run_date=D/domain=X/``: one published partition."""
        return (partition_dir(self.recommendations_root, "run_date", run_date)
                / f"domain={_domain(domain)}")

    def recommendations_staging(self, run_date: date, domain: str, model_version: str) -> Path:
        """Where the parts of one (date, domain, model) are written before the swap: a fixed
        name, so every shard task of a run (threads or Dask processes) finds the same
        folder; outside the dataset root, so readers never see it."""
        key = hashlib.sha256(f"{run_date}|{domain}|{model_version}".encode()).hexdigest()[:16]
        return self.data_dir / "lake" / ".staging" / f"recommendations-{key}"

    @property
    def recommendations_root(self) -> Path:
        return self.data_dir / "lake" / "recommendations"

    @property
    def clicks_root(self) -> Path:
        """``lake/clicks/``: every event date's ingested click events."""
        return self.data_dir / "lake" / "clicks"

    def clicks(self, event_date: date) -> Path:
        """``lake/clicks/event_date=D/``: ingested click events."""
        return partition_dir(self.clicks_root, "event_date", event_date)

    def click_quarantine(self, event_date: date) -> Path:
        return partition_dir(self.quarantine / "clicks", "event_date", event_date)

    @property
    def click_manifest(self) -> Path:
        """sha256 of every click log already ingested."""
        return self.data_dir / "lake" / ".clicks-ingested.json"

    @property
    def click_pending(self) -> Path:
        """The intent log of a click ingestion in progress."""
        return self.data_dir / "lake" / ".clicks-pending.json"

    @property
    def click_drop(self) -> Path:
        """Default drop folder of click logs (``[clicks] drop_dir`` moves it)."""
        return self.data_dir / "drop" / "clicks"

    @property
    def locks(self) -> Path:
        """``.locks/<name>.lock``: one writer per piece of state."""
        return self.data_dir / ".locks"
