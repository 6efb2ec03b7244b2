"""pyarrow schemas of every boundary table (the data contracts).

Writers cast to these schemas so a column that drifts in type fails loudly at the boundary
instead of deep inside SQL or training.
"""

import pyarrow as pa
import pyarrow.compute as pc

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
        pa.field("reason", pa.string(), nullable=False),  # a short category, counted in summaries
        pa.field("detail", pa.string()),  # the specific problem, e.g. the offending value
        pa.field("raw", pa.string()),  # the row as read (truncated to 500 characters)
    ]
)
"""Rows a collector could not parse, with where (``line``: 1-based line or row) and why."""

STAGED = pa.schema(
    [*INTERACTIONS, pa.field("file", pa.string(), nullable=False),
     pa.field("line", pa.int64(), nullable=False)]
)
"""Interactions as a reader yields them: with the file and line they came from, so the
de-duplication pass can quarantine a repeated row by where it was."""

ITEMS = pa.schema(
    [
        pa.field("item_id", pa.string(), nullable=False),  # "<domain>:<id>", as in INTERACTIONS
        pa.field("domain", pa.string(), nullable=False),
        pa.field("title", pa.string()),
        pa.field("categories", pa.list_(pa.string())),  # category path, broadest first
        pa.field("price", pa.float32()),
        pa.field("brand", pa.string()),
        pa.field("source", pa.string(), nullable=False),
    ]
)
"""Item attributes (landing ``items/``); every attribute is optional."""

ITEMS_STAGED = pa.schema(
    [*ITEMS, pa.field("file", pa.string(), nullable=False),
     pa.field("line", pa.int64(), nullable=False)]
)

CLICKS = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("event_ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("event_type", pa.string(), nullable=False),  # impression | click | purchase
        pa.field("rec_run_date", pa.date32(), nullable=False),
        pa.field("rank", pa.int16(), nullable=False),
        pa.field("model_version", pa.string(), nullable=False),
    ]
)
"""Click-log events about served recommendations; ``event_date`` is the lake partition."""

EVENT_TYPES = ("impression", "click", "purchase")

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
    """Inside the product an item is the pair (domain, the user's own id), held as one key:
    the domain, ``:``, the id exactly as it came in (which may itself hold ``:``).
    ``item_keys`` below is the same over Arrow arrays: change both."""
    return f"{domain}:{local_id}"


def local_id(key: str) -> str:
    """The user's own item id of an :func:`item_key`: everything after the first ``:`` (a
    domain name never holds one, see ``DOMAIN_PATTERN``). What the product publishes."""
    domain, sep, rest = key.partition(":")
    if not sep or not domain:
        raise ValueError(f"not an item key (domain:id): {key!r}")
    return rest


def local_ids(keys: list[str]) -> list[str]:
    return [local_id(k) for k in keys]


def item_keys(domains: pa.Array | pa.Scalar, ids: pa.Array) -> pa.Array:
    """``item_key`` over aligned Arrow string arrays (the CSV fast path, the synthetic
    world); it must give exactly what ``item_key`` gives row by row: change the two together
    (tests/collect/test_fastcsv.py checks that they agree)."""
    return pc.binary_join_element_wise(domains, ids, ":")
