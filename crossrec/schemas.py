"""pyarrow schemas of every boundary table (DESIGN.md §2).

Writers cast to these schemas so a column that drifts in type fails loudly at the boundary
instead of deep inside SQL or training.
"""

import pyarrow as pa

INTERACTIONS = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),  # unique across domains: "<domain>:<id>"
        pa.field("domain", pa.string(), nullable=False),
        pa.field("event_ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("rating", pa.float32()),
        pa.field("source", pa.string(), nullable=False),  # which collector produced the row
    ]
)
"""Landing-zone interactions; ``ingest_date`` is the hive partition, not a stored column."""

QUARANTINE = pa.schema(
    [
        pa.field("file", pa.string(), nullable=False),
        pa.field("line", pa.int64(), nullable=False),
        pa.field("column", pa.string()),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("raw", pa.string()),
    ]
)
"""Rows a collector could not parse, with where and why."""

RECOMMENDATIONS = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("rank", pa.int16(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("score", pa.float32(), nullable=False),
        pa.field("model_version", pa.string(), nullable=False),
        pa.field("explanation", pa.list_(pa.string())),
    ]
)
"""Published top-N rows; ``run_date`` and ``domain`` are the hive partition keys."""


def item_key(domain: str, local_id: object) -> str:
    """Item ids are made unique across domains by prefixing the domain."""
    return f"{domain}:{local_id}"
