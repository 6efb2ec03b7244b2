"""The landing zone: one hive partition per ingest date, written whole or not at all.

Layout of ``landing/ingest_date=YYYY-MM-DD/``: ``interactions/<source>.parquet`` and
``items/<source>.parquet``. A collection run writes everything into a staging folder under
``landing/.staging/`` (outside the dataset glob, so readers never see it), then swaps it into
place: re-running a date replaces its partition, never duplicates it. Quarantined rows go to
``quarantine/ingest_date=YYYY-MM-DD/<source>.parquet`` the same way. A failed run leaves both
as they were and puts its own quarantine in ``quarantine/.failed/ingest_date=YYYY-MM-DD/``.

Exact duplicate rows within a source are removed here, by DuckDB (which spills to disk, so
memory stays bounded whatever the input size), and quarantined with the line of the copy kept.
"""

from __future__ import annotations

import shutil
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from crossrec.collect.rows import QuarantineLog
from crossrec.layout import Layout
from crossrec.schemas import INTERACTIONS, ITEMS, ITEMS_STAGED, STAGED
from crossrec.sqlvars import quote_ident, set_variables
from crossrec.storage import swap_into_place

# (schema written, staged schema read, de-duplication key columns, quarantine reason) per table
TABLES = {
    "interactions": (INTERACTIONS, STAGED, ("user_id", "item_id", "domain", "event_ts", "rating"),
                     "duplicate row"),
    "items": (ITEMS, ITEMS_STAGED, ("item_id",), "duplicate item"),
}
ROW_GROUP = 256_000


@dataclass
class Landed:
    """What one source's table kept after de-duplication."""

    rows: int = 0
    by_domain: Counter = field(default_factory=Counter)
    duplicates_by_file: Counter = field(default_factory=Counter)


class LandingBatch:
    """One ingest date's partition in the making: ``write`` each source, then ``commit``."""

    def __init__(self, data_dir: Path, ingest_date: date, memory_limit: str = "512MB"):
        layout = Layout(data_dir)
        self.final = layout.landing_partition(ingest_date)
        self.final_quarantine = layout.quarantine_partition(ingest_date)
        self.failed_quarantine = layout.failed_quarantine(ingest_date)
        staging_root = layout.landing_staging
        # what a killed collection of this date left behind (one collector per data folder
        # runs at a time: the flow holds the warehouse lock)
        for orphan in staging_root.glob(f"{ingest_date}-*"):
            shutil.rmtree(orphan, ignore_errors=True)
        self.stage = staging_root / f"{ingest_date}-{uuid.uuid4().hex[:12]}"
        self.quarantine_dir = self.stage / "_quarantine"
        self.memory_limit = memory_limit
        self.stage.mkdir(parents=True)

    def write(self, name: str, table: str, batches: Iterable[pa.RecordBatch],
              quarantine: QuarantineLog) -> Landed:
        """Stream a source's batches to staging, drop exact duplicates into the quarantine."""
        schema, staged_schema, key, reason = TABLES[table]
        raw = self.stage / "_raw" / f"{table}-{name}.parquet"
        raw.parent.mkdir(parents=True, exist_ok=True)
        writer = None
        try:
            for batch in batches:
                if writer is None:
                    writer = pq.ParquetWriter(raw, staged_schema, compression="lz4")
                writer.write_batch(batch)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            return Landed()
        out = self.stage / table / f"{name}.parquet"
        out.parent.mkdir(parents=True, exist_ok=True)
        landed = self._deduplicate(raw, out, schema, key, reason, quarantine)
        raw.unlink()
        return landed

    def _deduplicate(self, raw: Path, out: Path, schema: pa.Schema, key_columns: tuple[str, ...],
                     reason: str, quarantine: QuarantineLog) -> Landed:
        spill = self.stage / "_spill"
        config = {"memory_limit": self.memory_limit, "temp_directory": str(spill)}
        # identifiers only (from the fixed TABLES and schemas), each checked by quote_ident;
        # every value (the file, the reason) is a bound variable
        columns = ", ".join(map(quote_ident, schema.names))
        key = ", ".join(map(quote_ident, key_columns))
        landed = Landed()
        with duckdb.connect(config=config) as con:
            set_variables(con, {"raw_file": str(raw), "dup_reason": reason})
            con.execute(
                "CREATE TEMP TABLE ranked AS SELECT *, row_number() OVER w AS copy_no, "
                "first_value(file) OVER w AS first_file, first_value(line) OVER w AS first_line "
                "FROM read_parquet(getvariable('raw_file')) "
                f"WINDOW w AS (PARTITION BY {key} ORDER BY file, line)")
            reader = con.sql(f"SELECT {columns} FROM ranked WHERE copy_no = 1 "
                             "ORDER BY file, line").fetch_record_batch(ROW_GROUP)
            with pq.ParquetWriter(out, schema, compression="zstd") as writer:
                for batch in reader:
                    writer.write_batch(pa.RecordBatch.from_arrays(batch.columns, schema=schema))
                    landed.rows += batch.num_rows
            dupes = con.sql(
                "SELECT file, line, NULL AS \"column\", getvariable('dup_reason') AS reason, "
                "'same as ' || first_file || ' line ' || first_line AS detail, "
                f"concat_ws(' | ', {key}) AS raw FROM ranked WHERE copy_no > 1 ORDER BY file, line"
            ).to_arrow_table()
            quarantine.add_table(dupes)
            landed.duplicates_by_file.update(dupes["file"].to_pylist())
            for domain, n in con.sql(
                    "SELECT domain, count(*) FROM ranked WHERE copy_no = 1 GROUP BY domain "
                    "ORDER BY domain").fetchall():
                landed.by_domain[domain] = n
        shutil.rmtree(spill, ignore_errors=True)
        return landed

    def commit(self) -> Path:
        """Swap the staged partition (and its quarantine) into place."""
        shutil.rmtree(self.stage / "_raw", ignore_errors=True)
        self._publish_quarantine(self.final_quarantine)
        shutil.rmtree(self.failed_quarantine, ignore_errors=True)  # an older failure's, stale
        (self.stage / "interactions").mkdir(exist_ok=True)
        return swap_into_place(self.stage, self.final)

    def abort(self, keep_quarantine: bool = True) -> Path | None:
        """Leave the previous partition and its quarantine as they were; with
        ``keep_quarantine`` this run's quarantine goes to ``quarantine/.failed/`` for
        inspection (returned; None when it is empty)."""
        kept = None
        if keep_quarantine:
            kept = self._publish_quarantine(self.failed_quarantine)
        shutil.rmtree(self.stage, ignore_errors=True)
        return kept

    def _publish_quarantine(self, final: Path) -> Path | None:
        q = self.quarantine_dir
        if q.exists() and any(q.iterdir()):
            return swap_into_place(q, final)
        shutil.rmtree(q, ignore_errors=True)
        if final.exists():
            shutil.rmtree(final)  # a clean re-run keeps no stale quarantine
        return None
