"""Run the nightly flow (or a click ingestion) in a child process that stops dead at a named
point, so the parent test can SIGKILL it there.

``python -m tests.faults.child SETTINGS_JSON RUN_DATE POINT MARKER``: at POINT the child writes
MARKER and sleeps; the parent sees the marker and sends SIGKILL. Each point patches the one
library function where the write it interrupts happens; nothing in the library knows about it.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

AS_OF = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
"""The click ingestion's clock: the night after the simulated clicks of RUN_DATE + 1."""


def _stop(marker: Path) -> None:
    marker.write_text("reached")
    time.sleep(3600)  # the parent kills us here


def _after(module, name: str, marker: Path, when=lambda *a, **k: True) -> None:
    """Run the real ``module.name``, then stop (when ``when`` says so)."""
    real = getattr(module, name)

    def wrapped(*args, **kwargs):
        out = real(*args, **kwargs)
        if when(*args, **kwargs):
            _stop(marker)
        return out

    setattr(module, name, wrapped)


def install(point: str, marker: Path) -> None:
    if point == "collect":  # one table staged, the other not, nothing swapped in yet
        from crossrec.collect import landing

        _after(landing.LandingBatch, "_deduplicate", marker)
    elif point == "features":  # staging and some marts committed, later models not built
        from crossrec.features import build

        _after(build, "run_model", marker,
               lambda con, f: f.stem == "mart_interactions")
    elif point == "export":  # every model built, one mart exported into marts/.staging
        from crossrec.features import build

        _after(build, "write_batches_atomic", marker)
    elif point == "checkpoint":  # the final version's weights half on disk, not renamed
        from crossrec.train import checkpoint

        real = checkpoint.save_file

        def torn(tensors, path, *args, **kwargs):
            real(tensors, path, *args, **kwargs)
            if Path(path).parent.parent.name == "models":
                with open(path, "r+b") as f:
                    f.truncate(Path(path).stat().st_size // 2)
                _stop(marker)

        checkpoint.save_file = torn
    elif point == "score":  # one shard's part written to staging
        from crossrec.score import shards

        _after(shards, "write_part", marker)
    elif point == "publish":  # the exchange done, the old partition not yet deleted
        from crossrec import storage

        _after(storage, "_exchange", marker,
               lambda a, b: "recommendations" in str(b))
    elif point == "clicks":  # the lake parts written, the manifest not updated
        from crossrec.clicks import ingest

        _after(ingest, "write_parquet_atomic", marker,
               lambda table, path: "event_date=" in str(path.parent))
    elif point == "clicks-manifest":  # the manifest updated, the intent file not yet removed
        from crossrec.clicks import ingest

        _after(ingest, "write_text_atomic", marker,
               lambda text, path: path.name == ".clicks-ingested.json")
    elif point != "none":
        raise SystemExit(f"unknown fault point {point!r}")


def main() -> None:
    settings_json, run_date, point, marker = sys.argv[1:5]
    from crossrec.config import Settings

    settings = Settings.model_validate_json(Path(settings_json).read_text())
    install(point, Path(marker))
    day = date.fromisoformat(run_date)
    if point.startswith("clicks"):  # the click logs of the day after RUN_DATE
        from crossrec.clicks.ingest import ingest_day

        ingest_day(settings, day + timedelta(days=1), now=AS_OF)
    else:
        from flows.nightly import nightly

        nightly(run_date=day, settings=settings)


if __name__ == "__main__":
    main()
