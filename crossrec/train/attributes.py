"""Item attributes as integer codes per vocabulary index, for the model's attribute encoders.

Read from ``mart_item_features``: the leaf category and the brand become codes of a sorted
string vocabulary, the price a log-scale bucket. Code 0 means unknown. Codes are stored in the
model itself (a buffer saved with its weights), so a checkpoint scores without this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from crossrec.data.vocab import Vocabulary

CATEGORICAL = ("category", "brand")
PRICE_BUCKETS = 24
"""Half-octave price buckets: 1 + floor(2 * log2(1 + price)), capped (about 4,000 and up)."""


@dataclass(frozen=True)
class ItemAttributes:
    codes: np.ndarray
    """(n_items + 1, n_fields) int64 codes per vocabulary index; row 0 (padding) is all 0."""
    cardinality: dict[str, int]
    """Per field, in column order: number of codes including 0 (unknown)."""


def price_bucket(price: np.ndarray) -> np.ndarray:
    """Codes 1..PRICE_BUCKETS for known non-negative prices, 0 for missing or negative."""
    price = np.asarray(price, dtype=np.float64)
    known = np.isfinite(price) & (price >= 0)
    raw = np.floor(2 * np.log2(1 + np.where(known, price, 0.0))).astype(np.int64)
    return np.where(known, 1 + np.clip(raw, 0, PRICE_BUCKETS - 1), 0)


def _categorical_codes(values: pl.Series) -> tuple[np.ndarray, int]:
    names = sorted(v for v in values.unique().to_list() if v is not None and v != "")
    lookup = {name: code for code, name in enumerate(names, start=1)}
    return np.array([lookup.get(v, 0) for v in values.to_list()], dtype=np.int64), len(names) + 1


def item_attributes(features: pl.DataFrame, vocab: Vocabulary) -> ItemAttributes | None:
    """Codes for the vocabulary's items; a field is kept only where it tells items apart
    (two or more known values); None when no field does (e.g. data without metadata)."""
    index = pl.DataFrame({"item_id": list(vocab.index), "idx": list(vocab.index.values())},
                         schema={"item_id": pl.String, "idx": pl.Int64})
    rows = index.join(features, on="item_id", how="left").sort("idx")
    columns, cardinality = [], {}
    for field in CATEGORICAL:
        codes, card = _categorical_codes(rows[field])
        if card > 2:
            columns.append(codes)
            cardinality[field] = card
    prices = price_bucket(rows["price"].cast(pl.Float64).fill_null(float("nan")).to_numpy())
    if len(np.unique(prices[prices > 0])) > 1:
        columns.append(prices)
        cardinality["price"] = PRICE_BUCKETS + 1
    if not columns:
        return None
    codes = np.zeros((vocab.n_items + 1, len(columns)), dtype=np.int64)
    codes[rows["idx"].to_numpy()] = np.stack(columns, axis=1)
    return ItemAttributes(codes, cardinality)


def load_item_attributes(path: Path | None, vocab: Vocabulary) -> ItemAttributes | None:
    if path is None or not Path(path).exists():
        return None
    return item_attributes(pl.read_parquet(path, columns=["item_id", *CATEGORICAL, "price"]),
                           vocab)
