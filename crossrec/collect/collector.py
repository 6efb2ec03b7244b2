"""Dispatch each configured source to its reader and land the result."""

from __future__ import annotations

from datetime import date

from crossrec.collect import disencdr, synthetic
from crossrec.collect.landing import land
from crossrec.config import DisenCDRSource, Settings, SyntheticSource
from crossrec.errors import InputDataError
from crossrec.schemas import QUARANTINE


def check_sources(settings: Settings) -> None:
    """Fail before anything is written when an input is missing."""
    for src in settings.sources:
        if isinstance(src, DisenCDRSource) and not src.path.is_dir():
            raise InputDataError(f"data folder not found: {src.path} (sources.path)")


def collect(settings: Settings, ingest_date: date) -> dict[str, dict[str, int]]:
    """Land every source for ``ingest_date``; returns landed/quarantined counts per source."""
    src_name, tgt_name = settings.domains.source, settings.domains.target
    summary = {}
    for i, src in enumerate(settings.sources):
        name = f"{src.kind}-{i}"
        match src:
            case SyntheticSource():
                rows = synthetic.generate_interactions(src, src_name, tgt_name, ingest_date)
                bad = QUARANTINE.empty_table()
            case DisenCDRSource():
                rows, bad = disencdr.read_pair(src.path, src_name, tgt_name, ingest_date)
            case _:  # pragma: no cover - the config union is closed
                raise TypeError(f"unsupported source {src!r}")
        summary[name] = land(settings.data_dir, ingest_date, name, rows, bad)
    return summary

